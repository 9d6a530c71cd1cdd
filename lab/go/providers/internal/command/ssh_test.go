package command

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// These tests run the provider against a real SSH server on loopback.

func sshInputs(t *testing.T, s *sshServer, create string, extraConn resource.PropertyMap) resource.PropertyMap {
	return resource.PropertyMap{
		"connection": conn(t, s, extraConn),
		"create":     resource.NewStringProperty(create),
	}
}

func TestSSHCreateWithStdin(t *testing.T) {
	s := startSSH(t, serverOptions{})
	rec := &recorder{}
	p := newTestProvider(t, rec)
	file := filepath.Join(t.TempDir(), "bootstrap.kubeconfig")
	inputs := sshInputs(t, s, "umask 077; cat > "+file+"; echo written; echo note >&2", nil)
	inputs["stdin"] = resource.MakeSecret(resource.NewStringProperty("line1\nline2\n"))
	inputs["logging"] = resource.NewStringProperty("stdout")

	_, state, err := createRes(t, p, check(t, p, inputs))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil || string(got) != "line1\nline2\n" {
		t.Fatalf("file = %q, %v", got, err)
	}
	if plainString(t, state["stdout"]) != "written" || plainString(t, state["stderr"]) != "note" {
		t.Fatalf("stdout=%v stderr=%v", state["stdout"], state["stderr"])
	}
	// logging: stdout only -> "written" is logged, "note" is not.
	if log := rec.statusText(); !strings.Contains(log, "written") || strings.Contains(log, "note") {
		t.Fatalf("logged %q", log)
	}
	if len(s.envRequests()) != 0 {
		t.Fatalf("create sent env requests %v (no previous output yet)", s.envRequests())
	}
}

func TestSSHNonZeroExitErrorNamesCommandAndOutput(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	cmd := "echo partial; echo broken >&2; exit 3"
	_, _, err := createRes(t, p, check(t, p, sshInputs(t, s, cmd, nil)))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	t.Logf("exit error: %q", msg)
	prefix := `Process exited with status 3: running "echo partial; echo broken >&2; exit 3":` + "\n"
	if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, "partial\n") || !strings.Contains(msg, "broken\n") {
		t.Fatalf("error = %q", msg)
	}
}

func TestSSHUpdateRunsCreateAndSetsPreviousOutput(t *testing.T) {
	s := startSSH(t, serverOptions{}) // no AcceptEnv: like a stock sshd
	rec := &recorder{}
	p := newTestProvider(t, rec)
	marker := filepath.Join(t.TempDir(), "runs")
	_, state, err := createRes(t, p, check(t, p, sshInputs(t, s, "echo create >> "+marker+"; echo v1", nil)))
	if err != nil {
		t.Fatal(err)
	}
	news := check(t, p, sshInputs(t, s, "echo create >> "+marker+"; echo v2", nil))
	outs, err := updateRes(t, p, state, news, false)
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := os.ReadFile(marker)
	if string(runs) != "create\ncreate\n" || plainString(t, outs["stdout"]) != "v2" {
		t.Fatalf("runs=%q stdout=%v", runs, outs["stdout"])
	}
	// addPreviousOutputInEnv (default true) asked for PULUMI_COMMAND_STDOUT; sshd refused
	// it, which is a warning, not a failure.
	if !slices.Contains(s.envRequests(), "PULUMI_COMMAND_STDOUT") {
		t.Fatalf("env requests = %v", s.envRequests())
	}
	if len(rec.warnings) != 1 || !strings.Contains(rec.warnings[0], "Unable to set 'PULUMI_COMMAND_STDOUT'") {
		t.Fatalf("warnings = %v", rec.warnings)
	}
}

func TestSSHPreviousOutputReachesCommandWithAcceptEnv(t *testing.T) {
	s := startSSH(t, serverOptions{acceptEnv: true})
	p := newTestProvider(t, &recorder{})
	_, state, err := createRes(t, p, check(t, p, sshInputs(t, s, "echo first", nil)))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := updateRes(t, p, state, check(t, p, sshInputs(t, s, `echo "prev=$PULUMI_COMMAND_STDOUT"`, nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := plainString(t, outs["stdout"]); got != "prev=first" {
		t.Fatalf("stdout = %q", got)
	}
}

func TestSSHEnvironmentRefusedIsAnError(t *testing.T) {
	s := startSSH(t, serverOptions{})
	rec := &recorder{}
	p := newTestProvider(t, rec)
	inputs := sshInputs(t, s, "true", nil)
	inputs["environment"] = resource.NewObjectProperty(resource.PropertyMap{"FOO": resource.NewStringProperty("bar")})
	_, _, err := createRes(t, p, check(t, p, inputs))
	if err == nil || !strings.Contains(err.Error(), `could not set environment variable "FOO"`) {
		t.Fatalf("err = %v", err)
	}
	if len(rec.errors) != 1 {
		t.Fatalf("errors logged = %v", rec.errors)
	}
}

func TestSSHDeleteUsesOldConnectionAndCommand(t *testing.T) {
	old := startSSH(t, serverOptions{})
	other := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	file := filepath.Join(t.TempDir(), "f")
	inputs := sshInputs(t, old, "touch "+file, nil)
	inputs["delete"] = resource.NewStringProperty("rm " + file)
	_, state, err := createRes(t, p, check(t, p, inputs))
	if err != nil {
		t.Fatal(err)
	}
	// The program now points elsewhere; a replacement's delete still runs the old
	// command on the old host, from state.
	_ = sshInputs(t, other, "true", nil)
	if err := deleteRes(t, p, state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
	if got := old.executed(); len(got) != 2 || got[1] != "rm "+file {
		t.Fatalf("old host ran %v", got)
	}
	if got := other.executed(); len(got) != 0 {
		t.Fatalf("other host ran %v", got)
	}
}

func TestSSHHostKeyChecked(t *testing.T) {
	s := startSSH(t, serverOptions{})
	impostor := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})

	// The right key connects.
	right := resource.PropertyMap{"hostKey": resource.NewStringProperty(s.hostKey)}
	if _, _, err := createRes(t, p, check(t, p, sshInputs(t, s, "true", right))); err != nil {
		t.Fatalf("matching host key refused: %v", err)
	}
	// Another host's key is refused, after dialErrorLimit (0 here) retries.
	wrong := resource.PropertyMap{"hostKey": resource.NewStringProperty(impostor.hostKey)}
	_, _, err := createRes(t, p, check(t, p, sshInputs(t, s, "true", wrong)))
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") ||
		!strings.Contains(err.Error(), "after 0 failed attempts") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("mismatch: %v", err)
	if len(s.executed()) != 1 {
		t.Fatalf("commands ran despite the mismatch: %v", s.executed())
	}
}

func TestSSHNoHostKeyMeansNoCheck(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	if _, _, err := createRes(t, p, check(t, p, sshInputs(t, s, "true", nil))); err != nil {
		t.Fatal(err)
	}
}

// With an RSA hostKey the real provider offers only the "ssh-rsa" (SHA-1) host key
// algorithm, which OpenSSH 8.8+ no longer offers: the lab must reproduce that failure.
func TestSSHRSAHostKeyPinsSHA1Algorithm(t *testing.T) {
	s := startSSH(t, serverOptions{hostSigner: modernRSAHostSigner(t)})
	p := newTestProvider(t, &recorder{})
	pinned := resource.PropertyMap{"hostKey": resource.NewStringProperty(s.hostKey)}
	_, _, err := createRes(t, p, check(t, p, sshInputs(t, s, "true", pinned)))
	if err == nil || !strings.Contains(err.Error(), "no common algorithm for host key") ||
		!strings.Contains(err.Error(), "ssh-rsa") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("rsa pin: %v", err)
	// Without hostKey the same server is reachable (rsa-sha2-* negotiated).
	if _, _, err := createRes(t, p, check(t, p, sshInputs(t, s, "true", nil))); err != nil {
		t.Fatalf("unpinned connection failed: %v", err)
	}
}

func TestSSHDialRetriesThenFails(t *testing.T) {
	s := startSSH(t, serverOptions{})
	rec := &recorder{}
	p := newTestProvider(t, rec)
	// A port nobody listens on: refused at once, so the retries cost only the backoff.
	closed := resource.PropertyMap{"port": resource.NewNumberProperty(1), "dialErrorLimit": resource.NewNumberProperty(2)}
	_, _, err := createRes(t, p, check(t, p, sshInputs(t, s, "true", closed)))
	if err == nil || !strings.Contains(err.Error(), "after 2 failed attempts") {
		t.Fatalf("err = %v", err)
	}
	if log := rec.statusText(); !strings.Contains(log, "Dial 1/2 failed: retrying") ||
		!strings.Contains(log, "Dial 2/2 failed: retrying") {
		t.Fatalf("status = %q", log)
	}
}

func TestSSHThroughProxy(t *testing.T) {
	bastion := startSSH(t, serverOptions{})
	target := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	inputs := sshInputs(t, target, "echo via-proxy", resource.PropertyMap{
		"proxy": conn(t, bastion, resource.PropertyMap{
			"hostKey": resource.NewStringProperty(bastion.hostKey)}),
	})
	_, state, err := createRes(t, p, check(t, p, inputs))
	if err != nil {
		t.Fatal(err)
	}
	if plainString(t, state["stdout"]) != "via-proxy" || len(target.executed()) != 1 {
		t.Fatalf("stdout=%v target ran %v", state["stdout"], target.executed())
	}
}
