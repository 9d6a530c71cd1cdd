package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestMarshalRoundTripKeepsSecretsAndUnknowns(t *testing.T) {
	in := resource.PropertyMap{
		"s": resource.MakeSecret(resource.NewStringProperty("x")),
		"u": Computed(),
	}
	s, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !out["s"].IsSecret() || !out["u"].IsComputed() {
		t.Fatalf("round trip lost markers: %v", out)
	}
}

func TestCheckConfigRejectsUnknownKeys(t *testing.T) {
	b := NewBase("1.0.0", nil)
	news, _ := Marshal(resource.PropertyMap{
		"version": resource.NewStringProperty("1.0.0"),
		"region":  resource.NewStringProperty("x"),
	})
	resp, err := b.CheckConfig(context.Background(), &pulumirpc.CheckRequest{News: news})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || resp.Failures[0].Property != "region" {
		t.Fatalf("failures = %v", resp.Failures)
	}
}

func TestPluginInfoAndHandshake(t *testing.T) {
	b := NewBase("4.21.4", nil)
	info, _ := b.GetPluginInfo(context.Background(), &emptypb.Empty{})
	hs, _ := b.Handshake(context.Background(), &pulumirpc.ProviderHandshakeRequest{})
	cfg, _ := b.Configure(context.Background(), &pulumirpc.ConfigureRequest{})
	if info.Version != "4.21.4" || !hs.AcceptSecrets || !cfg.AcceptSecrets || !cfg.SupportsPreview {
		t.Fatalf("info=%v handshake=%v configure=%v", info, hs, cfg)
	}
}

func TestCancelEndsBoundContexts(t *testing.T) {
	b := NewBase("1", nil)
	ctx, stop := b.Bound(context.Background())
	defer stop()
	if _, err := b.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("context not cancelled")
	}
}

func TestDiffNestedPathsAndReplace(t *testing.T) {
	olds := resource.PropertyMap{
		"a":   resource.NewObjectProperty(resource.PropertyMap{"x": resource.NewStringProperty("1")}),
		"r":   resource.NewStringProperty("1"),
		"out": resource.NewStringProperty("ignored"),
	}
	news := resource.PropertyMap{
		"a": resource.NewObjectProperty(resource.PropertyMap{"x": resource.NewStringProperty("2")}),
		"r": resource.NewStringProperty("2"),
	}
	d := Diff(olds, news, []string{"a", "r"}, nil, func(k string) bool { return k == "r" })
	if d.DetailedDiff["a.x"].GetKind() != pulumirpc.PropertyDiff_UPDATE ||
		d.DetailedDiff["r"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE ||
		len(d.Replaces) != 1 || len(d.Diffs) != 2 || !d.HasDetailedDiff {
		t.Fatalf("diff = %v", d)
	}
}
