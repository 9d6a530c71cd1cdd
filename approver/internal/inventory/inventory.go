// Package inventory reads the file in which the program tells the approver which nodes are
// the stack's and what their serving certificates may name.
//
// The program rewrites the file whenever a node or a setting changes; the approver reads it
// again when its content changes, so a new node's requests are judged by its new inventory
// without a restart.
package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"kubelet-bootstrap/approver/policy"
)

// Inventory is the file's content, ready for the policy.
type Inventory struct {
	Nodes                map[string]policy.NodeIdentity
	MaxExpirationSeconds int64
	// Digest is the sha256 of the file's bytes: what tells a changed file apart.
	Digest string
}

type file struct {
	Version              int   `json:"version"`
	MaxExpirationSeconds int64 `json:"maxExpirationSeconds"`
	Nodes                []struct {
		Name     string   `json:"name"`
		IPs      []string `json:"ips"`
		DNSNames []string `json:"dnsNames"`
	} `json:"nodes"`
}

// Load reads and checks the inventory at path. An error names the file and the entry.
func Load(path string) (Inventory, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Inventory{}, err
	}
	digest := sha256.Sum256(raw)
	var content file
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&content); err != nil {
		return Inventory{}, fmt.Errorf("%s: %v", path, err)
	}
	if content.Version != 1 {
		return Inventory{}, fmt.Errorf("%s: version %d is not 1: is this approver older than the program that wrote it?", path, content.Version)
	}
	if content.MaxExpirationSeconds <= 0 {
		return Inventory{}, fmt.Errorf("%s: maxExpirationSeconds must be positive", path)
	}
	nodes := make(map[string]policy.NodeIdentity, len(content.Nodes))
	for i, node := range content.Nodes {
		if node.Name == "" {
			return Inventory{}, fmt.Errorf("%s: nodes[%d] has no name", path, i)
		}
		if _, twice := nodes[node.Name]; twice {
			return Inventory{}, fmt.Errorf("%s: node %q is listed twice", path, node.Name)
		}
		identity, err := policy.NewNodeIdentity(node.Name, node.IPs, node.DNSNames)
		if err != nil {
			return Inventory{}, fmt.Errorf("%s: node %q: %v", path, node.Name, err)
		}
		nodes[node.Name] = identity
	}
	return Inventory{Nodes: nodes, MaxExpirationSeconds: content.MaxExpirationSeconds, Digest: hex.EncodeToString(digest[:])}, nil
}
