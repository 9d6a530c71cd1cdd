package command

import (
	"context"
	"crypto/rand"
	"os"
	"syscall"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kubelet-bootstrap.lab/providers/internal/rpc/rpctest"
)

const copyURN = "urn:pulumi:dev::kubelet-bootstrap::command:remote:CopyToRemote::node-1-kubelet-binary"

// fileAsset is a FileAsset as the engine sends it: the program's path and the hash the
// engine computed (asset.FromPath hashes the file the same way).
func fileAsset(t *testing.T, path string) resource.PropertyValue {
	t.Helper()
	a, err := asset.FromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return resource.NewAssetProperty(a)
}

// writeRandom writes n random bytes to path and returns them.
func writeRandom(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// withUmask runs the test under umask, which the in-process SFTP server's creates obey
// as sshd's do.
func withUmask(t *testing.T, umask int) {
	t.Helper()
	old := syscall.Umask(umask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// copyProgram is what the program registers: connection, source and remotePath.
func copyProgram(t *testing.T, s *sshServer, source resource.PropertyValue, remotePath string,
) resource.PropertyMap {
	t.Helper()
	return resource.PropertyMap{
		"connection": conn(t, s, nil),
		"source":     source,
		"remotePath": resource.NewStringProperty(remotePath),
	}
}

func checkCopyResp(t *testing.T, p *Provider, news resource.PropertyMap) *pulumirpc.CheckResponse {
	t.Helper()
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: copyURN, Type: CopyToRemoteToken, News: rpctest.Marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// checkCopy runs Check and fails the test on failures.
func checkCopy(t *testing.T, p *Provider, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp := checkCopyResp(t, p, news)
	if len(resp.Failures) > 0 {
		t.Fatalf("check failures: %v", resp.Failures)
	}
	return rpctest.Unmarshal(t, resp.Inputs)
}

func createCopyRes(t *testing.T, p *Provider, inputs resource.PropertyMap, preview bool,
) (string, resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: copyURN, Type: CopyToRemoteToken, Properties: rpctest.Marshal(t, inputs), Preview: preview})
	if err != nil {
		return "", nil, err
	}
	return resp.Id, rpctest.Unmarshal(t, resp.Properties), nil
}

func updateCopyRes(t *testing.T, p *Provider, olds, news resource.PropertyMap, preview bool,
) (resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: copyURN, Type: CopyToRemoteToken,
		Id: "x", Olds: rpctest.Marshal(t, olds), News: rpctest.Marshal(t, news), Preview: preview})
	if err != nil {
		return nil, err
	}
	return rpctest.Unmarshal(t, resp.Properties), nil
}

func diffCopy(t *testing.T, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	p := newTestProvider(t, &recorder{})
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: copyURN, Type: CopyToRemoteToken,
		Id: "x", Olds: rpctest.Marshal(t, olds), News: rpctest.Marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// modeOf is the permission bits of path.
func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func deleteCopy(t *testing.T, p *Provider, state resource.PropertyMap) error {
	t.Helper()
	_, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Urn: copyURN, Type: CopyToRemoteToken, Id: "x", Properties: rpctest.Marshal(t, state)})
	return err
}
