package command

import (
	"context"
	"strings"
	"sync"
	"testing"

	"kubelet-bootstrap.lab/providers/internal/rpc/rpctest"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const testURN = "urn:pulumi:dev::kubelet-bootstrap::command:remote:Command::node-1-start"

// recorder is a Logger that keeps what it was sent.
type recorder struct {
	mu                       sync.Mutex
	status, warnings, errors []string
}

func (r *recorder) Status(s string)  { r.add(&r.status, s) }
func (r *recorder) Warning(s string) { r.add(&r.warnings, s) }
func (r *recorder) Error(s string)   { r.add(&r.errors, s) }

func (r *recorder) add(to *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*to = append(*to, s)
}

func (r *recorder) statusText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.status, "\n")
}

// newTestProvider returns a provider that reports to rec.
func newTestProvider(t *testing.T, rec *recorder) *Provider {
	t.Helper()
	p, err := New("1.2.1", func(context.Context, string) Logger { return rec })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// conn is a connection object for s, as a program would pass it (secret key).
func conn(t *testing.T, s *sshServer, extra resource.PropertyMap) resource.PropertyValue {
	t.Helper()
	m := resource.PropertyMap{
		"host":           resource.NewStringProperty("127.0.0.1"),
		"port":           resource.NewNumberProperty(float64(s.port(t))),
		"user":           resource.NewStringProperty("root"),
		"privateKey":     resource.MakeSecret(resource.NewStringProperty(s.clientKey)),
		"dialErrorLimit": resource.NewNumberProperty(0),
	}
	for k, v := range extra {
		m[k] = v
	}
	return resource.NewObjectProperty(m)
}

// check runs Check and fails the test on failures.
func check(t *testing.T, p *Provider, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, Type: Token, News: rpctest.Marshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) > 0 {
		t.Fatalf("check failures: %v", resp.Failures)
	}
	return rpctest.Unmarshal(t, resp.Inputs)
}

// createRes runs Create (not preview) and returns id and state.
func createRes(t *testing.T, p *Provider, inputs resource.PropertyMap) (string, resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Type: Token, Properties: rpctest.Marshal(t, inputs)})
	if err != nil {
		return "", nil, err
	}
	return resp.Id, rpctest.Unmarshal(t, resp.Properties), nil
}

func updateRes(t *testing.T, p *Provider, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error) {
	t.Helper()
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: testURN, Type: Token, Id: "x", Olds: rpctest.Marshal(t, olds), News: rpctest.Marshal(t, news), Preview: preview})
	if err != nil {
		return nil, err
	}
	return rpctest.Unmarshal(t, resp.Properties), nil
}

func deleteRes(t *testing.T, p *Provider, state resource.PropertyMap) error {
	t.Helper()
	_, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Urn: testURN, Type: Token, Id: "x", Properties: rpctest.Marshal(t, state)})
	return err
}

func plainString(t *testing.T, v resource.PropertyValue) string {
	t.Helper()
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		t.Fatalf("expected a string, got %v", v)
	}
	return v.StringValue()
}
