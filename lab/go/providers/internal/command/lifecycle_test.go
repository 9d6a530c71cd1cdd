package command

import (
	"context"
	"testing"

	"kubelet-bootstrap.lab/providers/internal/rpc/rpctest"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kubelet-bootstrap.lab/providers/internal/rpc"
)

// call is one command a fake runner was asked to run.
type call struct {
	cmd          string
	host         string
	prevStdout   string
	stdin        string
	addPrevInEnv bool
}

// fakeRunner records calls and answers with stdout "out:<cmd>".
func fakeRunner(calls *[]call) runner {
	return func(_ context.Context, spec Spec, cmd string, _ Logger) (Result, error) {
		c := call{cmd: cmd, host: spec.Connection.Host, prevStdout: spec.Stdout, addPrevInEnv: spec.AddPreviousOutputInEnv}
		if spec.Stdin != nil {
			c.stdin = *spec.Stdin
		}
		*calls = append(*calls, c)
		return Result{Stdout: "out:" + cmd}, nil
	}
}

func withRunner(t *testing.T, r runner) *Provider {
	p := newTestProvider(t, &recorder{})
	p.run = r
	return p
}

func program(host, create string) resource.PropertyMap {
	return resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty(host)}),
		"create":     resource.NewStringProperty(create),
		"delete":     resource.NewStringProperty("rm " + host),
	}
}

func TestPreviewRunsNothing(t *testing.T) {
	var calls []call
	p := withRunner(t, fakeRunner(&calls))
	inputs := check(t, p, program("h1", "c1"))
	inputs["stdin"] = rpc.Computed()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Type: Token, Properties: rpctest.Marshal(t, inputs), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	outs := rpctest.Unmarshal(t, resp.Properties)
	if len(calls) != 0 {
		t.Fatalf("preview ran %v", calls)
	}
	if !outs["stdout"].IsComputed() || !outs["stdin"].IsComputed() {
		t.Fatalf("preview outputs = %v", outs)
	}

	// An update preview with a changed input: nothing runs, stdout becomes unknown.
	state := inputs.Copy()
	state["stdin"] = resource.NewStringProperty("x")
	state["stdout"] = resource.NewStringProperty("old")
	news := inputs.Copy()
	news["stdin"] = resource.NewStringProperty("y")
	outs, err = updateRes(t, p, state, news, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 || !outs["stdout"].IsComputed() {
		t.Fatalf("update preview: calls=%v stdout=%v", calls, outs["stdout"])
	}
}

func TestUpdateRunsCreateWithNewInputsAndPreviousOutput(t *testing.T) {
	var calls []call
	p := withRunner(t, fakeRunner(&calls))
	_, state, err := createRes(t, p, check(t, p, program("h1", "c1")))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := updateRes(t, p, state, check(t, p, program("h2", "c2")), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []call{
		{cmd: "c1", host: "h1", addPrevInEnv: true},
		{cmd: "c2", host: "h2", prevStdout: "out:c1", addPrevInEnv: true},
	}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Fatalf("calls = %+v, want %+v", calls, want)
	}
	if outs["stdout"].StringValue() != "out:c2" {
		t.Fatalf("stdout = %v", outs["stdout"])
	}

	// With an update command, update runs instead of create.
	news := check(t, p, program("h2", "c2"))
	news["update"] = resource.NewStringProperty("u2")
	if _, err := updateRes(t, p, outs, news, false); err != nil {
		t.Fatal(err)
	}
	if calls[2].cmd != "u2" || calls[2].prevStdout != "out:c2" {
		t.Fatalf("update call = %+v", calls[2])
	}
}

func TestDeleteUsesStateNotProgram(t *testing.T) {
	var calls []call
	p := withRunner(t, fakeRunner(&calls))
	_, state, err := createRes(t, p, check(t, p, program("old-host", "c1")))
	if err != nil {
		t.Fatal(err)
	}
	if err := deleteRes(t, p, state); err != nil {
		t.Fatal(err)
	}
	last := calls[len(calls)-1]
	if last.cmd != "rm old-host" || last.host != "old-host" || last.prevStdout != "out:c1" {
		t.Fatalf("delete call = %+v", last)
	}

	// Without a delete command, delete runs nothing.
	delete(state, "delete")
	n := len(calls)
	if err := deleteRes(t, p, state); err != nil || len(calls) != n {
		t.Fatalf("delete without command: err=%v calls=%v", err, calls[n:])
	}
}

func TestSecretPropagation(t *testing.T) {
	var calls []call
	p := withRunner(t, fakeRunner(&calls))
	inputs := program("h1", "cat > /etc/f")
	inputs["stdin"] = resource.MakeSecret(resource.NewStringProperty("token"))
	id, state, err := createRes(t, p, check(t, p, inputs))
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].stdin != "token" {
		t.Fatalf("runner got stdin %q", calls[0].stdin)
	}
	if !state["stdin"].IsSecret() {
		t.Errorf("stdin lost its secretness: %v", state["stdin"])
	}
	if !state["connection"].IsSecret() {
		t.Errorf("connection not secret in state")
	}
	// infer flows secretness by property name only: stdout is not secret because stdin
	// is. The program asks for it with additionalSecretOutputs.
	if state["stdout"].IsSecret() || state["stderr"].IsSecret() {
		t.Errorf("stdout/stderr marked secret: %v %v", state["stdout"], state["stderr"])
	}
	if state["create"].IsSecret() {
		t.Errorf("create marked secret")
	}
	if len(id) != len("node-1-start")+8 {
		t.Errorf("id %q is not name + 8 hex digits", id)
	}
}
