package command

import (
	"context"
	"strings"
	"testing"

	"kubelet-bootstrap.lab/providers/internal/rpc/rpctest"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kubelet-bootstrap.lab/providers/internal/rpc"
)

func TestCheckFillsDefaultsAndMarksConnectionSecret(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	got := check(t, p, resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host":  resource.NewStringProperty("10.0.0.1"),
			"proxy": resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("bastion")}),
		}),
		"create": resource.NewStringProperty("true"),
		"stdout": resource.NewNullProperty(), // SDKs may send unset outputs as null
	})
	c := got["connection"]
	if !c.IsSecret() {
		t.Fatalf("connection not secret: %v", c)
	}
	obj := c.SecretValue().Element.ObjectValue()
	want := map[string]any{"port": 22.0, "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0}
	for k, v := range want {
		if obj[resource.PropertyKey(k)].V != v {
			t.Errorf("connection.%s = %v, want %v", k, obj[resource.PropertyKey(k)].V, v)
		}
	}
	proxy := obj["proxy"].ObjectValue()
	if proxy["port"].V != 22.0 || proxy["user"].V != "root" {
		t.Errorf("proxy defaults missing: %v", proxy)
	}
	if got["addPreviousOutputInEnv"].V != true {
		t.Errorf("addPreviousOutputInEnv default = %v, want true", got["addPreviousOutputInEnv"])
	}
	if _, ok := got["stdout"]; ok {
		t.Errorf("null stdout kept as an input")
	}
}

func TestCheckRejectsUnknownPropertiesAndBadValues(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, Type: Token,
		News: rpctest.Marshal(t, resource.PropertyMap{
			"connection": resource.NewObjectProperty(resource.PropertyMap{
				"host": resource.NewStringProperty("h"), "hostkey": resource.NewStringProperty("typo"),
				"dialErrorLimit": resource.NewNumberProperty(1.5),
			}),
			"interpreter": resource.NewStringProperty("bash"),
			"logging":     resource.NewStringProperty("everything"),
		})})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, f := range resp.Failures {
		reasons = append(reasons, f.Property+": "+f.Reason)
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"connection.hostkey", "interpreter", "logging", "connection.dialErrorLimit"} {
		if !strings.Contains(all, want) {
			t.Errorf("no failure for %s in:\n%s", want, all)
		}
	}
}

func TestCheckMissingConnectionFails(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, Type: Token,
		News: rpctest.Marshal(t, resource.PropertyMap{"create": resource.NewStringProperty("true")})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || resp.Failures[0].Property != "connection" {
		t.Fatalf("failures = %v", resp.Failures)
	}
}

func TestCheckPassesUnknownsThrough(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	got := check(t, p, resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{"host": rpc.Computed()}),
		"stdin":      rpc.Computed(),
	})
	if !got["stdin"].IsComputed() {
		t.Errorf("stdin = %v, want unknown", got["stdin"])
	}
	obj := got["connection"].SecretValue().Element.ObjectValue()
	if !obj["host"].IsComputed() || obj["port"].V != 22.0 {
		t.Errorf("connection = %v", obj)
	}
}

func TestUnknownResourceTypeIsAnError(t *testing.T) {
	p := newTestProvider(t, &recorder{})
	_, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Type: "command:local:Command",
		News: rpctest.Marshal(t, resource.PropertyMap{})})
	if err == nil || !strings.Contains(err.Error(), "command:local:Command") {
		t.Fatalf("err = %v", err)
	}
}

func TestSchemaNamesEveryInput(t *testing.T) {
	s, err := Schema("1.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"command:remote:Command"`, `"command:remote:Connection"`,
		`"hostKey"`, `"replaceOnChanges": true`, `"version": "1.2.1"`, `"command:remote:Logging"`} {
		if !strings.Contains(string(s), want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}
