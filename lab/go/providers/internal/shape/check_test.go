package shape

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

var inner = &Object{Token: "t:index:Inner", Fields: map[string]Field{
	"host": {Kind: String, Required: true},
	"port": {Kind: Number, Default: 22.0},
}}

var outer = &Object{Fields: map[string]Field{
	"conn":  {Kind: Nested, Object: inner, Secret: true},
	"env":   {Kind: StringMap},
	"mode":  {Kind: String, Enum: []string{"a", "b"}},
	"count": {Kind: Integer},
	"flag":  {Kind: Bool, Default: true},
	"list":  {Kind: AnyArray},
}}

func TestCheckKeepsSecretsInsideAndFillsNestedDefaults(t *testing.T) {
	got, failures := Check(outer, resource.PropertyMap{
		"conn": resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.MakeSecret(resource.NewStringProperty("h")),
		}),
		"env": resource.NewObjectProperty(resource.PropertyMap{"A": resource.MakeSecret(resource.NewStringProperty("x"))}),
	})
	if len(failures) != 0 {
		t.Fatal(failures)
	}
	conn := got["conn"]
	if !conn.IsSecret() {
		t.Fatalf("field marked Secret not wrapped: %v", conn)
	}
	obj := conn.SecretValue().Element.ObjectValue()
	if !obj["host"].IsSecret() || obj["port"].NumberValue() != 22 {
		t.Fatalf("conn = %v", obj)
	}
	if !got["env"].ObjectValue()["A"].IsSecret() {
		t.Fatalf("secret map value lost its marker")
	}
	if got["flag"].BoolValue() != true {
		t.Fatalf("default flag missing")
	}
}

func TestCheckReportsEveryProblemWithItsPath(t *testing.T) {
	_, failures := Check(outer, resource.PropertyMap{
		"conn":  resource.NewObjectProperty(resource.PropertyMap{"bogus": resource.NewStringProperty("x")}),
		"mode":  resource.NewStringProperty("c"),
		"count": resource.NewNumberProperty(1.5),
		"env":   resource.NewObjectProperty(resource.PropertyMap{"A": resource.NewNumberProperty(1)}),
		"list":  resource.NewStringProperty("not a list"),
		"extra": resource.NewBoolProperty(true),
	})
	var all []string
	for _, f := range failures {
		all = append(all, f.Property)
	}
	want := "conn.bogus conn.host count env.A extra list mode"
	if strings.Join(all, " ") != want {
		t.Fatalf("failures on %v, want %s (%v)", all, want, failures)
	}
}

func TestCheckNullIsAbsentAndUnknownIsAccepted(t *testing.T) {
	got, failures := Check(outer, resource.PropertyMap{
		"flag":  resource.NewNullProperty(),
		"count": resource.MakeComputed(resource.NewStringProperty("")),
		"conn":  resource.MakeComputed(resource.NewStringProperty("")),
	})
	if len(failures) != 0 {
		t.Fatal(failures)
	}
	if got["flag"].BoolValue() != true || !got["count"].IsComputed() || !got["conn"].IsComputed() {
		t.Fatalf("got %v", got)
	}
}

func TestReaderUnwrapsSecretsAndRefusesUnknowns(t *testing.T) {
	r := NewReader(resource.PropertyMap{
		"s": resource.MakeSecret(resource.NewStringProperty("v")),
		"o": resource.NewObjectProperty(resource.PropertyMap{"u": resource.MakeComputed(resource.NewStringProperty(""))}),
	}, "")
	if got := r.String("s"); got == nil || *got != "v" {
		t.Fatalf("secret string = %v", got)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	r.Object("o")
	if r.Err() == nil || !strings.Contains(r.Err().Error(), "o: value is unknown") {
		t.Fatalf("err = %v", r.Err())
	}
}

func TestPackageSchema(t *testing.T) {
	b, err := PackageSchema("pkg", "1.0.0", "d", []Resource{{Token: "pkg:index:R", Inputs: outer,
		Outputs: map[string]Field{"out": {Kind: String}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"t:index:Inner"`, `"pkg:index:R"`, `"secret": true`, `"out"`, `"default": 22`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}

func TestCheckAssetOrArchive(t *testing.T) {
	o := &Object{Fields: map[string]Field{"source": {Kind: AssetOrArchive, Required: true}}}
	a := &resource.Asset{Sig: resource.AssetSig, Path: "bin/kubelet", Hash: "aaaa"}
	got, failures := Check(o, resource.PropertyMap{"source": resource.NewAssetProperty(a)})
	if len(failures) != 0 || !got["source"].IsAsset() || got["source"].AssetValue().Hash != "aaaa" {
		t.Fatalf("asset: %v %v", got, failures)
	}
	ar := &resource.Archive{Sig: resource.ArchiveSig, Path: "dir"}
	if _, failures := Check(o, resource.PropertyMap{"source": resource.NewArchiveProperty(ar)}); len(failures) != 0 {
		t.Fatalf("archive: %v", failures)
	}
	_, failures = Check(o, resource.PropertyMap{"source": resource.NewStringProperty("bin/kubelet")})
	if len(failures) != 1 || !strings.Contains(failures[0].Reason, "expected an asset or an archive") {
		t.Fatalf("string: %v", failures)
	}
}
