package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"kubelet-bootstrap/approver/policy"
)

// judgeCase is one input line of `judge`: a CSR as the API returns it, the nodes it is judged
// against, and the longest certificate the policy grants (the default when absent).
type judgeCase struct {
	CSR       map[string]any `json:"csr"`
	Inventory []struct {
		Name     string   `json:"name"`
		IPs      []string `json:"ips"`
		DNSNames []string `json:"dnsNames"`
	} `json:"inventory"`
	MaxExpirationSeconds *int64 `json:"maxExpirationSeconds"`
}

// judgeVerdict is one output line; node is null where the verdict names none.
type judgeVerdict struct {
	Action  policy.Action `json:"action"`
	Node    *string       `json:"node"`
	Rule    string        `json:"rule"`
	Message string        `json:"message"`
}

// judge reads JSON lines of cases and writes one JSON line of verdict for each, in order:
// the policy on requests given by hand, with nothing sent to an API server. It is the hook
// the Python tests prove the two policies equal with, and an operator's dry run. Blank lines
// are skipped; a line that is not a case stops it with an error naming the line.
func judge(in io.Reader, out io.Writer) error {
	reader := bufio.NewReader(in)
	writer := bufio.NewWriter(out)
	encoder := json.NewEncoder(writer)
	encoder.SetEscapeHTML(false)
	for number := 1; ; number++ {
		line, readErr := reader.ReadBytes('\n')
		if readErr != nil && readErr != io.EOF {
			return readErr
		}
		if len(bytes.TrimSpace(line)) > 0 {
			verdict, err := judgeLine(line)
			if err != nil {
				return fmt.Errorf("judge: line %d: %v", number, err)
			}
			if err := encoder.Encode(verdict); err != nil {
				return err
			}
			if err := writer.Flush(); err != nil {
				return err
			}
		}
		if readErr == io.EOF {
			return nil
		}
	}
}

func judgeLine(line []byte) (judgeVerdict, error) {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.UseNumber()
	decoder.DisallowUnknownFields()
	var c judgeCase
	if err := decoder.Decode(&c); err != nil {
		return judgeVerdict{}, err
	}
	if _, err := decoder.Token(); err != io.EOF {
		return judgeVerdict{}, fmt.Errorf("more than one JSON value")
	}
	if c.CSR == nil {
		return judgeVerdict{}, fmt.Errorf("no csr")
	}
	inventory := make(map[string]policy.NodeIdentity, len(c.Inventory))
	for _, node := range c.Inventory {
		identity, err := policy.NewNodeIdentity(node.Name, node.IPs, node.DNSNames)
		if err != nil {
			return judgeVerdict{}, fmt.Errorf("node %q: %v", node.Name, err)
		}
		inventory[node.Name] = identity
	}
	limit := policy.DefaultMaxExpirationSeconds
	if c.MaxExpirationSeconds != nil {
		limit = *c.MaxExpirationSeconds
	}
	v := policy.Evaluate(c.CSR, inventory, limit)
	verdict := judgeVerdict{Action: v.Action, Rule: v.Rule, Message: v.Message}
	if v.Node != "" {
		verdict.Node = &v.Node
	}
	return verdict, nil
}
