package command

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// These tests copy through a real SSH server with an SFTP subsystem on loopback.

// A 6 MB binary to a path whose parents do not exist: the bytes land unchanged, the
// parents are made, and no mode is set: the file is 0644 and the directories 0755, the
// server's defaults under umask 022, so the copy is not executable.
func TestCopyCreatesParentsAndFileByteIdentical(t *testing.T) {
	withUmask(t, 0o022)
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	want := writeRandom(t, src, 6<<20)
	if err := os.Chmod(src, 0o755); err != nil { // the local mode is not carried over either
		t.Fatal(err)
	}
	remote := filepath.Join(t.TempDir(), "usr", "local", "bin", "kubelet")

	id, state, err := createCopyRes(t, p, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote)), false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(remote)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("remote file differs (%d bytes, want %d): %v", len(got), len(want), err)
	}
	if m := modeOf(t, remote); m != 0o644 {
		t.Errorf("file mode %v, want 0644", m)
	}
	for _, dir := range []string{filepath.Dir(remote), filepath.Dir(filepath.Dir(remote))} {
		if m := modeOf(t, dir); m != 0o755 {
			t.Errorf("%s mode %v, want 0755", dir, m)
		}
	}
	// The id is 8 hex digits without the resource name, as NewUniqueHex("", 8, 0) makes it.
	if _, err := hex.DecodeString(id); err != nil || len(id) != 8 {
		t.Errorf("id %q is not 8 hex digits", id)
	}
	// The state is the inputs, connection secret; nothing else is added.
	if !state["connection"].IsSecret() || len(state) != 3 || !state["source"].IsAsset() {
		t.Errorf("state = %v", state)
	}
	if s.sftpSessions() != 1 {
		t.Errorf("sftp sessions = %d", s.sftpSessions())
	}
}

// An existing file is overwritten in place: it keeps its mode (the real provider sends
// none and never chmods), so a binary made executable before stays executable.
func TestCopyOverwriteKeepsRemoteMode(t *testing.T) {
	withUmask(t, 0o022)
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	want := writeRandom(t, src, 1000)
	remote := filepath.Join(t.TempDir(), "kubelet")
	if err := os.WriteFile(remote, bytes.Repeat([]byte("old"), 2000), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := createCopyRes(t, p, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote)), false); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(remote)
	if !bytes.Equal(got, want) { // truncated, not just overwritten at the front
		t.Fatalf("remote file is %d bytes, want %d", len(got), len(want))
	}
	if m := modeOf(t, remote); m != 0o700 {
		t.Errorf("mode %v, want the file's own 0700", m)
	}
}

// An existing directory at remotePath receives the file under its own base name.
func TestCopyIntoExistingDirectory(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	want := writeRandom(t, src, 100)
	dir := t.TempDir()
	if _, _, err := createCopyRes(t, p, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), dir)), false); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "kubelet")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("dir/kubelet: %v", err)
	}
}

// The engine sends a FileAsset's path as the program wrote it and starts the provider in
// the program directory: a relative path is read from there.
func TestCopyRelativeSourceFromWorkingDirectory(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	program := t.TempDir()
	if err := os.Mkdir(filepath.Join(program, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := writeRandom(t, filepath.Join(program, "bin", "kubelet"), 100)
	t.Chdir(program)
	source := fileAsset(t, "bin/kubelet")
	if source.AssetValue().Path != "bin/kubelet" {
		t.Fatalf("asset path = %q", source.AssetValue().Path)
	}
	remote := filepath.Join(t.TempDir(), "kubelet")
	if _, _, err := createCopyRes(t, p, checkCopy(t, p, copyProgram(t, s, source, remote)), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(remote); !bytes.Equal(got, want) {
		t.Fatal("remote file differs")
	}
}

func TestCopyMissingSourceFails(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	writeRandom(t, src, 10)
	inputs := checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), filepath.Join(t.TempDir(), "k")))
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	_, _, err := createCopyRes(t, p, inputs, false)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("err = %v", err)
	}
}

func TestCopyHostKeyMismatchFails(t *testing.T) {
	s := startSSH(t, serverOptions{})
	impostor := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	writeRandom(t, src, 100)
	remote := filepath.Join(t.TempDir(), "kubelet")
	inputs := copyProgram(t, s, fileAsset(t, src), remote)

	inputs["connection"] = conn(t, s, resource.PropertyMap{"hostKey": resource.NewStringProperty(impostor.hostKey)})
	_, _, err := createCopyRes(t, p, checkCopy(t, p, inputs), false)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(remote); !os.IsNotExist(statErr) || s.sftpSessions() != 0 {
		t.Fatalf("copied despite the mismatch: %v, %d sessions", statErr, s.sftpSessions())
	}

	inputs["connection"] = conn(t, s, resource.PropertyMap{"hostKey": resource.NewStringProperty(s.hostKey)})
	if _, _, err := createCopyRes(t, p, checkCopy(t, p, inputs), false); err != nil {
		t.Fatalf("matching host key refused: %v", err)
	}
}

func TestCopyThroughProxy(t *testing.T) {
	bastion := startSSH(t, serverOptions{})
	target := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	want := writeRandom(t, src, 100)
	remote := filepath.Join(t.TempDir(), "kubelet")
	inputs := copyProgram(t, target, fileAsset(t, src), remote)
	inputs["connection"] = conn(t, target, resource.PropertyMap{"proxy": conn(t, bastion, nil)})
	if _, _, err := createCopyRes(t, p, checkCopy(t, p, inputs), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(remote); !bytes.Equal(got, want) || target.sftpSessions() != 1 {
		t.Fatalf("copy through the bastion failed: %d sessions on the target", target.sftpSessions())
	}
}

// Preview copies nothing and returns the inputs.
func TestCopyPreviewCopiesNothing(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	writeRandom(t, src, 100)
	remote := filepath.Join(t.TempDir(), "kubelet")
	inputs := checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote))
	_, outs, err := createCopyRes(t, p, inputs, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.sftpSessions() != 0 || !outs.DeepEquals(inputs) {
		t.Fatalf("preview: %d sessions, outputs %v", s.sftpSessions(), outs)
	}
	if _, err := os.Stat(remote); !os.IsNotExist(err) {
		t.Fatalf("preview wrote %s", remote)
	}
	if _, err := updateCopyRes(t, p, outs, inputs, true); err != nil || s.sftpSessions() != 0 {
		t.Fatalf("update preview: %v, %d sessions", err, s.sftpSessions())
	}
}

// Update copies again when the source's hash changed, with the new bytes; when the
// remotePath changed, to the new path (the old file stays); when only the connection
// changed, not at all: the real provider's needCopy looks at hash and remotePath only.
func TestCopyUpdateCopiesOnHashOrPathOnly(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	writeRandom(t, src, 100)
	remote := filepath.Join(t.TempDir(), "kubelet")
	_, state, err := createCopyRes(t, p, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote)), false)
	if err != nil {
		t.Fatal(err)
	}

	// Same bytes: no copy, no connection.
	if _, err := updateCopyRes(t, p, state, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote)), false); err != nil {
		t.Fatal(err)
	}
	if n := s.sftpSessions(); n != 1 {
		t.Fatalf("unchanged source copied again: %d sessions", n)
	}

	// New bytes: copied.
	want := writeRandom(t, src, 200)
	state, err = updateCopyRes(t, p, state, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote)), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(remote); !bytes.Equal(got, want) || s.sftpSessions() != 2 {
		t.Fatalf("new source not copied: %d sessions", s.sftpSessions())
	}

	// New remotePath: copied there; the old file is left as it was.
	moved := filepath.Join(t.TempDir(), "kubelet-new")
	state, err = updateCopyRes(t, p, state, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), moved)), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(moved); !bytes.Equal(got, want) {
		t.Fatal("not copied to the new remotePath")
	}
	if _, err := os.Stat(remote); err != nil {
		t.Fatalf("old remote file touched: %v", err)
	}

	// Only the connection changed, to a host nobody listens on: nothing is dialed.
	other := copyProgram(t, s, fileAsset(t, src), moved)
	other["connection"] = conn(t, s, resource.PropertyMap{"port": resource.NewNumberProperty(1)})
	outs, err := updateCopyRes(t, p, state, checkCopy(t, p, other), false)
	if err != nil {
		t.Fatalf("connection-only update dialed: %v", err)
	}
	port := outs["connection"].SecretValue().Element.ObjectValue()["port"]
	if port.NumberValue() != 1 {
		t.Fatalf("state keeps the old connection: %v", port)
	}
}

// Delete leaves the copied file on the host: the real resource has no Delete.
func TestCopyDeleteLeavesFile(t *testing.T) {
	s := startSSH(t, serverOptions{})
	p := newTestProvider(t, &recorder{})
	src := filepath.Join(t.TempDir(), "kubelet")
	writeRandom(t, src, 100)
	remote := filepath.Join(t.TempDir(), "kubelet")
	_, state, err := createCopyRes(t, p, checkCopy(t, p, copyProgram(t, s, fileAsset(t, src), remote)), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := deleteCopy(t, p, state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(remote); err != nil {
		t.Fatalf("delete removed the file: %v", err)
	}
	if s.sftpSessions() != 1 || len(s.executed()) != 0 {
		t.Fatalf("delete reached the host: %d sessions, ran %v", s.sftpSessions(), s.executed())
	}
}
