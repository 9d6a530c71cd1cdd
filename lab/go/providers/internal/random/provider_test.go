package random

import (
	"context"
	"strings"
	"testing"

	"kubelet-bootstrap.lab/providers/internal/rpc/rpctest"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"

	"kubelet-bootstrap.lab/providers/internal/rpc"
)

const (
	stringURN   = "urn:pulumi:dev::kubelet-bootstrap::random:index/randomString:RandomString::node-1-token-id"
	passwordURN = "urn:pulumi:dev::kubelet-bootstrap::random:index/randomPassword:RandomPassword::node-1-token-secret"
)

// tokenInputs are bootstrap_token.py's inputs: length, upper=False, special=False.
func tokenInputs(length float64) resource.PropertyMap {
	return resource.PropertyMap{
		"length":  resource.NewNumberProperty(length),
		"upper":   resource.NewBoolProperty(false),
		"special": resource.NewBoolProperty(false),
	}
}

func newProvider(t *testing.T) *Provider {
	p, err := New("4.21.4")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkFailures(t *testing.T, urn string, news resource.PropertyMap) []string {
	t.Helper()
	resp, err := newProvider(t).Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, News: rpctest.Marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range resp.Failures {
		out = append(out, f.Reason)
	}
	return out
}

func TestCheckRules(t *testing.T) {
	if f := checkFailures(t, stringURN, tokenInputs(6)); len(f) != 0 {
		t.Fatalf("valid inputs refused: %v", f)
	}
	cases := map[string]resource.PropertyMap{
		"must be at least 1": {"length": resource.NewNumberProperty(0)},
		"less than minUpper": {"length": resource.NewNumberProperty(3), "minUpper": resource.NewNumberProperty(2),
			"minNumeric": resource.NewNumberProperty(2)},
		"different values": {"length": resource.NewNumberProperty(3), "number": resource.NewBoolProperty(true),
			"numeric": resource.NewBoolProperty(false)},
		`unknown property "lenght"`: {"length": resource.NewNumberProperty(3), "lenght": resource.NewNumberProperty(3)},
		"missing required property": {},
		"expected an integer":       {"length": resource.NewNumberProperty(2.5)},
	}
	for want, news := range cases {
		f := checkFailures(t, stringURN, news)
		if !strings.Contains(strings.Join(f, "\n"), want) {
			t.Errorf("%v: failures %v lack %q", news, f, want)
		}
	}
	// Unknown values (preview) are not judged.
	if f := checkFailures(t, stringURN, resource.PropertyMap{"length": rpc.Computed()}); len(f) != 0 {
		t.Fatalf("unknown length refused: %v", f)
	}
}

func createVia(t *testing.T, urn string, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap) {
	t.Helper()
	resp, err := newProvider(t).Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: urn, Properties: rpctest.Marshal(t, inputs), Preview: preview})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Id, rpctest.Unmarshal(t, resp.Properties)
}

func TestRandomStringIDIsResult(t *testing.T) {
	id, outs := createVia(t, stringURN, tokenInputs(6), false)
	result := outs["result"]
	if result.IsSecret() || !result.IsString() || id != result.StringValue() || len(id) != 6 {
		t.Fatalf("id=%q result=%v", id, result)
	}
	if count(id, lowerChars+numChars) != 6 {
		t.Fatalf("%q is not a token id", id)
	}
	if outs["lower"].V != true || outs["numeric"].V != true || outs["number"].V != true || outs["minUpper"].V != 0.0 {
		t.Fatalf("defaults not recorded in state: %v", outs)
	}
}

func TestRandomPasswordIsSecret(t *testing.T) {
	id, outs := createVia(t, passwordURN, tokenInputs(16), false)
	if id != "none" {
		t.Fatalf("id = %q, want none", id)
	}
	result, hash := outs["result"], outs["bcryptHash"]
	if !result.IsSecret() || !hash.IsSecret() {
		t.Fatalf("result/bcryptHash not secret: %v %v", result, hash)
	}
	r, h := result.SecretValue().Element.StringValue(), hash.SecretValue().Element.StringValue()
	if len(r) != 16 || count(r, lowerChars+numChars) != 16 {
		t.Fatalf("result %q", r)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(r)); err != nil {
		t.Fatalf("bcryptHash does not match result: %v", err)
	}
}

func TestPreviewGeneratesNothing(t *testing.T) {
	id, outs := createVia(t, passwordURN, tokenInputs(16), true)
	if id != "" || !outs["result"].ContainsUnknowns() || !outs["result"].IsSecret() {
		t.Fatalf("preview: id=%q result=%v", id, outs["result"])
	}
	_, outs = createVia(t, stringURN, resource.PropertyMap{"length": rpc.Computed()}, true)
	if !outs["result"].IsComputed() {
		t.Fatalf("preview with unknown length: %v", outs["result"])
	}
}

func diff(t *testing.T, oldInputs, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := newProvider(t).Diff(context.Background(), &pulumirpc.DiffRequest{Urn: stringURN,
		OldInputs: rpctest.Marshal(t, oldInputs), Olds: rpctest.Marshal(t, olds), News: rpctest.Marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestAnyChangeReplaces(t *testing.T) {
	_, state := createVia(t, stringURN, tokenInputs(6), false)
	// Same inputs: the defaults recorded in state are not a change.
	if resp := diff(t, tokenInputs(6), state, tokenInputs(6)); resp.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("spurious diff: %v", resp.DetailedDiff)
	}
	news := tokenInputs(6)
	news["keepers"] = resource.NewObjectProperty(resource.PropertyMap{"node": resource.NewStringProperty("n1")})
	resp := diff(t, tokenInputs(6), state, news)
	if len(resp.Replaces) != 1 || resp.Replaces[0] != "keepers" {
		t.Fatalf("keepers change: replaces=%v", resp.Replaces)
	}
	resp = diff(t, tokenInputs(6), state, tokenInputs(8))
	if len(resp.Replaces) != 1 || resp.Replaces[0] != "length" ||
		resp.DetailedDiff["length"].Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("length change: %v", resp)
	}
	news = tokenInputs(6)
	news["length"] = rpc.Computed()
	if resp := diff(t, tokenInputs(6), state, news); len(resp.Replaces) != 1 {
		t.Fatalf("unknown length: replaces=%v", resp.Replaces)
	}
}

func TestUnknownTypeIsAnError(t *testing.T) {
	_, err := newProvider(t).Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: "urn:pulumi:dev::p::random:index/randomPet:RandomPet::x", Properties: rpctest.Marshal(t, resource.PropertyMap{})})
	if err == nil || !strings.Contains(err.Error(), "randomPet") {
		t.Fatalf("err = %v", err)
	}
}
