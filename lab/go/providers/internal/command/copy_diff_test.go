package command

import (
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// engineAsset is a FileAsset as it reaches the provider: a path and the engine's hash.
func engineAsset(path, hash string) resource.PropertyValue {
	return resource.NewAssetProperty(&asset.Asset{Sig: asset.AssetSig, Path: path, Hash: hash})
}

// copyState is the state of a created CopyToRemote: its inputs, connection secret.
func copyState() resource.PropertyMap {
	return resource.PropertyMap{
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.NewStringProperty("10.77.0.11"), "port": resource.NewNumberProperty(22),
			"user": resource.NewStringProperty("root"), "dialErrorLimit": resource.NewNumberProperty(10),
			"perDialTimeout": resource.NewNumberProperty(15),
		})),
		"source":     engineAsset("bin/kubelet", "aaaa"),
		"remotePath": resource.NewStringProperty("/usr/local/bin/kubelet"),
		"triggers":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("v1")}),
	}
}

func wantUpdate(t *testing.T, resp *pulumirpc.DiffResponse, key string) {
	t.Helper()
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 ||
		!slices.Equal(resp.Diffs, []string{key}) {
		t.Fatalf("want an update of %s, got changes=%v replaces=%v diffs=%v", key, resp.Changes, resp.Replaces, resp.Diffs)
	}
	if d := resp.DetailedDiff[key]; d == nil || d.Kind != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("detailed diff = %v", resp.DetailedDiff)
	}
}

func TestCopyDiffNoChange(t *testing.T) {
	resp := diffCopy(t, copyState(), copyState())
	if resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("changes = %v %v", resp.Changes, resp.DetailedDiff)
	}
}

// New bytes (a new hash) are an update, not a replacement: Update then copies again.
func TestCopyDiffNewHashIsUpdate(t *testing.T) {
	news := copyState()
	news["source"] = engineAsset("bin/kubelet", "bbbb")
	wantUpdate(t, diffCopy(t, copyState(), news), "source")
}

// Assets compare by hash alone: the same bytes under another path are no change.
func TestCopyDiffSameHashOtherPathIsNoChange(t *testing.T) {
	news := copyState()
	news["source"] = engineAsset("other/kubelet", "aaaa")
	if resp := diffCopy(t, copyState(), news); resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("changes = %v %v", resp.Changes, resp.DetailedDiff)
	}
}

func TestCopyDiffRemotePathIsUpdate(t *testing.T) {
	news := copyState()
	news["remotePath"] = resource.NewStringProperty("/opt/bin/kubelet")
	wantUpdate(t, diffCopy(t, copyState(), news), "remotePath")
}

func TestCopyDiffConnectionIsUpdate(t *testing.T) {
	news := copyState()
	news["connection"] = resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
		"host": resource.NewStringProperty("10.77.0.12"), "port": resource.NewNumberProperty(22),
		"user": resource.NewStringProperty("root"), "dialErrorLimit": resource.NewNumberProperty(10),
		"perDialTimeout": resource.NewNumberProperty(15),
	}))
	resp := diffCopy(t, copyState(), news)
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(resp.Replaces) != 0 ||
		!slices.Equal(resp.Diffs, []string{"connection"}) {
		t.Fatalf("changes=%v replaces=%v diffs=%v", resp.Changes, resp.Replaces, resp.Diffs)
	}
}

func TestCopyDiffTriggersReplace(t *testing.T) {
	news := copyState()
	news["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("v2")})
	resp := diffCopy(t, copyState(), news)
	if !slices.Equal(resp.Replaces, []string{"triggers"}) {
		t.Fatalf("replaces = %v", resp.Replaces)
	}
	if d := resp.DetailedDiff["triggers[0]"]; d == nil || d.Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("detailed diff = %v", resp.DetailedDiff)
	}

	// Triggers added where there were none replace too.
	olds := copyState()
	delete(olds, "triggers")
	resp = diffCopy(t, olds, copyState())
	if d := resp.DetailedDiff["triggers"]; d == nil || d.Kind != pulumirpc.PropertyDiff_ADD_REPLACE {
		t.Fatalf("detailed diff = %v", resp.DetailedDiff)
	}
}
