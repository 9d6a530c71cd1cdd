package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, content string) (Inventory, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "inventory.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestLoadsTheProgramsInventory(t *testing.T) {
	got, err := load(t, `{"version": 1, "maxExpirationSeconds": 600,
		"nodes": [{"name": "node-1", "ips": ["10.0.0.11"], "dnsNames": ["Node-1.Example."]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	node := got.Nodes["node-1"]
	if got.MaxExpirationSeconds != 600 || !node.IPs["10.0.0.11"] || !node.DNSNames["node-1.example"] || !node.DNSNames["node-1"] {
		t.Errorf("%+v", got)
	}
	if len(got.Digest) != 64 {
		t.Errorf("digest %q", got.Digest)
	}
}

func TestProblemsNameTheEntry(t *testing.T) {
	cases := map[string]string{
		`{"version": 2, "maxExpirationSeconds": 1, "nodes": []}`:                                    "version 2 is not 1",
		`{"version": 1, "maxExpirationSeconds": 0, "nodes": []}`:                                    "maxExpirationSeconds must be positive",
		`{"version": 1, "maxExpirationSeconds": 1, "nodes": [{"name": ""}]}`:                        "nodes[0] has no name",
		`{"version": 1, "maxExpirationSeconds": 1, "nodes": [{"name": "a"}, {"name": "a"}]}`:        `node "a" is listed twice`,
		`{"version": 1, "maxExpirationSeconds": 1, "nodes": [{"name": "a", "ips": ["300.1.1.1"]}]}`: `node "a"`,
		`{"version": 1, "maxExpirationSeconds": 1, "nodes": [], "extra": true}`:                     `unknown field "extra"`,
	}
	for content, want := range cases {
		if _, err := load(t, content); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", content, err, want)
		}
	}
}
