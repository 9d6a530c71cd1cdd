package command

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
)

func copyInputs(source resource.PropertyValue) resource.PropertyMap {
	return resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("10.77.0.11")}),
		"source":     source,
		"remotePath": resource.NewStringProperty("/usr/local/bin/kubelet"),
	}
}

func TestCopyCheckFillsConnectionDefaultsAndKeepsAsset(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	got := checkCopy(t, p, copyInputs(engineAsset("bin/kubelet", "aaaa")))
	c := got["connection"]
	if !c.IsSecret() || c.SecretValue().Element.ObjectValue()["port"].NumberValue() != 22 {
		t.Fatalf("connection = %v", c)
	}
	a := got["source"]
	if !a.IsAsset() || a.AssetValue().Path != "bin/kubelet" || a.AssetValue().Hash != "aaaa" {
		t.Fatalf("source = %v", a)
	}
}

// failuresOf returns "property: reason" for each Check failure.
func failuresOf(t *testing.T, p *Provider, news resource.PropertyMap) string {
	t.Helper()
	var out []string
	for _, f := range checkCopyResp(t, p, news).Failures {
		out = append(out, f.Property+": "+f.Reason)
	}
	return strings.Join(out, "\n")
}

func TestCopyCheckRefusesWhatItCannotCopy(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	text, _ := asset.FromText("hello")
	// Built by hand: asset.FromURI would fetch the URI to hash it.
	uri := &asset.Asset{Sig: asset.AssetSig, URI: "https://example.com/kubelet", Hash: "aaaa"}
	dirArchive, _ := archive.FromPath(t.TempDir())
	assets, _ := archive.FromAssets(map[string]any{"a": text})
	cases := map[string]struct {
		source resource.PropertyValue
		want   string
	}{
		// Copied by the real provider, not by the stand-in: said so.
		"string asset": {resource.NewAssetProperty(text), "source: the lab's stand-in copies a FileAsset only"},
		"file archive": {resource.NewArchiveProperty(dirArchive), "source: the lab's stand-in copies a FileAsset only"},
		// Refused by the real provider too, in its words.
		"remote asset":  {resource.NewAssetProperty(uri), "asset: asset must be a path-based file asset or a text asset"},
		"asset archive": {resource.NewArchiveProperty(assets), "archive: archive must be a path to a file or directory"},
		"string":        {resource.NewStringProperty("bin/kubelet"), "source: source: expected an asset or an archive"},
	}
	for name, c := range cases {
		if got := failuresOf(t, p, copyInputs(c.source)); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: failures %q, want %q", name, got, c.want)
		}
	}
}

func TestCopyCheckRequiresSourceAndRemotePath(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	got := failuresOf(t, p, resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("h")}),
		"create":     resource.NewStringProperty("a Command property"),
	})
	for _, want := range []string{"source", "remotePath", `unknown property "create"`} {
		if !strings.Contains(got, want) {
			t.Errorf("no failure for %s in:\n%s", want, got)
		}
	}
}

func TestSchemaListsCopyToRemote(t *testing.T) {
	s, err := Schema("1.2.1")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Resources map[string]struct {
			InputProperties map[string]map[string]any `json:"inputProperties"`
			RequiredInputs  []string                  `json:"requiredInputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(s, &schema); err != nil {
		t.Fatal(err)
	}
	r, ok := schema.Resources[CopyToRemoteToken]
	if !ok {
		t.Fatalf("schema lacks %s", CopyToRemoteToken)
	}
	in := r.InputProperties
	if in["source"]["$ref"] != "pulumi.json#/Asset" || in["connection"]["secret"] != true ||
		in["triggers"]["replaceOnChanges"] != true || in["remotePath"]["type"] != "string" {
		t.Errorf("inputs = %v", in)
	}
	if strings.Join(r.RequiredInputs, ",") != "connection,remotePath,source" {
		t.Errorf("required = %v", r.RequiredInputs)
	}
	if _, ok := schema.Resources[Token]; !ok {
		t.Errorf("schema lost %s", Token)
	}
}
