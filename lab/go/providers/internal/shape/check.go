package shape

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Check validates props against o and fills in defaults. Secret and unknown values keep
// their markers: a secret is checked inside its wrapper, an unknown (preview) is accepted
// as is, because the engine sends unknowns during preview and a provider must not reject
// them. Null values count as absent (SDKs send None/undefined as null). A property that o
// does not describe is a failure, never silently dropped.
func Check(o *Object, props resource.PropertyMap) (resource.PropertyMap, []Failure) {
	return checkObject("", o, props)
}

func checkObject(prefix string, o *Object, props resource.PropertyMap) (resource.PropertyMap, []Failure) {
	out := resource.PropertyMap{}
	var failures []Failure
	for _, k := range sortedKeys(props) {
		v := props[k]
		if v.IsNull() {
			continue
		}
		path := join(prefix, string(k))
		f, ok := o.Fields[string(k)]
		if !ok {
			failures = append(failures, Failure{path, fmt.Sprintf("unknown property %q", path)})
			continue
		}
		checked, fs := checkValue(path, f, v)
		failures = append(failures, fs...)
		out[k] = checked
	}
	for _, name := range sortedFieldNames(o) {
		f := o.Fields[name]
		k := resource.PropertyKey(name)
		if _, ok := out[k]; ok {
			continue
		}
		switch {
		case f.Default != nil:
			out[k] = defaultValue(f.Default)
		case f.Required:
			path := join(prefix, name)
			failures = append(failures, Failure{path, fmt.Sprintf("missing required property %q", path)})
		}
	}
	return out, failures
}

func checkValue(path string, f Field, v resource.PropertyValue) (resource.PropertyValue, []Failure) {
	if f.Secret && !v.IsSecret() && !v.IsComputed() {
		v = resource.MakeSecret(v)
	}
	switch {
	case v.IsSecret():
		inner, fs := checkValue(path, Field{Kind: f.Kind, Enum: f.Enum, Object: f.Object}, v.SecretValue().Element)
		return resource.MakeSecret(inner), fs
	case v.IsComputed():
		return v, nil
	case v.IsOutput():
		out := v.OutputValue()
		if !out.Known {
			return v, nil
		}
		inner, fs := checkValue(path, Field{Kind: f.Kind, Enum: f.Enum, Object: f.Object}, out.Element)
		out.Element = inner
		return resource.NewProperty(out), fs
	}
	fail := func(reason string, args ...any) (resource.PropertyValue, []Failure) {
		return v, []Failure{{path, fmt.Sprintf("%s: %s", path, fmt.Sprintf(reason, args...))}}
	}
	switch f.Kind {
	case String:
		if !v.IsString() {
			return fail("expected a string, got %s", v.TypeString())
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, v.StringValue()) {
			return fail("%q is not one of %v", v.StringValue(), f.Enum)
		}
	case Bool:
		if !v.IsBool() {
			return fail("expected a boolean, got %s", v.TypeString())
		}
	case Number:
		if !v.IsNumber() {
			return fail("expected a number, got %s", v.TypeString())
		}
	case Integer:
		if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
			return fail("expected an integer, got %v", v)
		}
	case Nested:
		if !v.IsObject() {
			return fail("expected an object, got %s", v.TypeString())
		}
		obj, fs := checkObject(path, f.Object, v.ObjectValue())
		return resource.NewObjectProperty(obj), fs
	case StringMap:
		if !v.IsObject() {
			return fail("expected a map of strings, got %s", v.TypeString())
		}
		out := resource.PropertyMap{}
		var failures []Failure
		for _, k := range sortedKeys(v.ObjectValue()) {
			e, fs := checkValue(path+"."+string(k), Field{Kind: String}, v.ObjectValue()[k])
			out[k] = e
			failures = append(failures, fs...)
		}
		return resource.NewObjectProperty(out), failures
	case AnyArray:
		if !v.IsArray() {
			return fail("expected an array, got %s", v.TypeString())
		}
	case AssetOrArchive:
		if !v.IsAsset() && !v.IsArchive() {
			return fail("expected an asset or an archive, got %s", v.TypeString())
		}
	}
	return v, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func sortedKeys(m resource.PropertyMap) []resource.PropertyKey {
	keys := make([]resource.PropertyKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func sortedFieldNames(o *Object) []string {
	names := make([]string, 0, len(o.Fields))
	for k := range o.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
