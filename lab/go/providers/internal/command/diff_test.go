package command

import (
	"context"
	"slices"
	"testing"

	"kubelet-bootstrap.lab/providers/internal/rpc/rpctest"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kubelet-bootstrap.lab/providers/internal/rpc"
)

// baseState is the state of a created command, as Create stores it.
func baseState() resource.PropertyMap {
	return resource.PropertyMap{
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.NewStringProperty("10.0.0.1"), "port": resource.NewNumberProperty(22),
			"user": resource.NewStringProperty("root"), "dialErrorLimit": resource.NewNumberProperty(10),
			"perDialTimeout": resource.NewNumberProperty(15),
		})),
		"create":                 resource.NewStringProperty("install -m 0600 /dev/stdin /etc/x"),
		"stdin":                  resource.MakeSecret(resource.NewStringProperty("s3cret")),
		"triggers":               resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("a")}),
		"addPreviousOutputInEnv": resource.NewBoolProperty(true),
		"stdout":                 resource.NewStringProperty("sha256 abc"),
		"stderr":                 resource.NewStringProperty(""),
	}
}

// inputsOf drops the outputs, giving what Check would return for the same program.
func inputsOf(state resource.PropertyMap) resource.PropertyMap {
	news := state.Copy()
	delete(news, "stdout")
	delete(news, "stderr")
	return news
}

func callDiff(t *testing.T, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	p := newTestProvider(t, &recorder{})
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: testURN, Type: Token, Id: "x", Olds: rpctest.Marshal(t, olds), News: rpctest.Marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestDiffNoChangeIgnoresOutputs(t *testing.T) {
	resp := callDiff(t, baseState(), inputsOf(baseState()))
	if resp.Changes != pulumirpc.DiffResponse_DIFF_NONE || len(resp.DetailedDiff) != 0 {
		t.Fatalf("want no changes, got %v %v", resp.Changes, resp.DetailedDiff)
	}
}

func TestDiffTriggerChangeReplaces(t *testing.T) {
	news := inputsOf(baseState())
	news["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("b")})
	resp := callDiff(t, baseState(), news)
	if !slices.Equal(resp.Replaces, []string{"triggers"}) {
		t.Fatalf("replaces = %v, want [triggers]", resp.Replaces)
	}
	if d := resp.DetailedDiff["triggers[0]"]; d == nil || d.Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("detailed diff = %v", resp.DetailedDiff)
	}
}

func TestDiffAddedTriggersReplace(t *testing.T) {
	olds := baseState()
	delete(olds, "triggers")
	resp := callDiff(t, olds, inputsOf(baseState()))
	if d := resp.DetailedDiff["triggers"]; d == nil || d.Kind != pulumirpc.PropertyDiff_ADD_REPLACE {
		t.Fatalf("detailed diff = %v", resp.DetailedDiff)
	}
}

func TestDiffCreateChangeIsUpdate(t *testing.T) {
	news := inputsOf(baseState())
	news["create"] = resource.NewStringProperty("install -m 0644 /dev/stdin /etc/x")
	resp := callDiff(t, baseState(), news)
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 {
		t.Fatalf("want an update, got changes=%v replaces=%v", resp.Changes, resp.Replaces)
	}
	if d := resp.DetailedDiff["create"]; d == nil || d.Kind != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("detailed diff = %v", resp.DetailedDiff)
	}
}

func TestDiffConnectionAndStdinChangesAreUpdates(t *testing.T) {
	news := inputsOf(baseState())
	news["stdin"] = resource.MakeSecret(resource.NewStringProperty("other"))
	news["connection"] = resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
		"host": resource.NewStringProperty("10.0.0.2"), "port": resource.NewNumberProperty(22),
		"user": resource.NewStringProperty("root"), "dialErrorLimit": resource.NewNumberProperty(10),
		"perDialTimeout": resource.NewNumberProperty(15),
	}))
	resp := callDiff(t, baseState(), news)
	if len(resp.Replaces) != 0 || !slices.Equal(resp.Diffs, []string{"connection", "stdin"}) {
		t.Fatalf("replaces=%v diffs=%v", resp.Replaces, resp.Diffs)
	}
}

func TestDiffUnknownsDuringPreview(t *testing.T) {
	news := inputsOf(baseState())
	news["stdin"] = rpc.Computed()
	resp := callDiff(t, baseState(), news)
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 {
		t.Fatalf("unknown stdin: want update, got %v replaces=%v", resp.Changes, resp.Replaces)
	}

	news = inputsOf(baseState())
	news["triggers"] = rpc.Computed()
	resp = callDiff(t, baseState(), news)
	if !slices.Equal(resp.Replaces, []string{"triggers"}) {
		t.Fatalf("unknown triggers: replaces=%v", resp.Replaces)
	}
}

func TestDiffIgnoreChanges(t *testing.T) {
	news := inputsOf(baseState())
	news["create"] = resource.NewStringProperty("changed")
	p := newTestProvider(t, &recorder{})
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, Type: Token,
		Olds: rpctest.Marshal(t, baseState()), News: rpctest.Marshal(t, news), IgnoreChanges: []string{"create"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("ignored change reported: %v", resp.DetailedDiff)
	}
}
