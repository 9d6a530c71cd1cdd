package shape

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Reader reads checked properties as plain Go values for the code that acts on them.
// Secrets are unwrapped (the provider needs the value); an unknown value is an error,
// because nothing may run on a value the engine does not know yet.
type Reader struct {
	props resource.PropertyMap
	path  string
	err   *error // shared with nested readers, so the first error anywhere wins
}

// NewReader reads props; prefix names them in errors ("connection").
func NewReader(props resource.PropertyMap, prefix string) *Reader {
	return &Reader{props: props, path: prefix, err: new(error)}
}

// Err is the first error met while reading, by this reader or one it returned.
func (r *Reader) Err() error { return *r.err }

func (r *Reader) get(key string) (resource.PropertyValue, bool) {
	v, ok := r.props[resource.PropertyKey(key)]
	if !ok || v.IsNull() {
		return v, false
	}
	v = Unwrap(v)
	if ContainsUnknowns(v) {
		r.fail(key, "value is unknown")
		return v, false
	}
	return v, true
}

func (r *Reader) fail(key, msg string) {
	if *r.err == nil {
		*r.err = fmt.Errorf("%s: %s", join(r.path, key), msg)
	}
}

// String returns the string at key, or nil when it is absent.
func (r *Reader) String(key string) *string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	if !v.IsString() {
		r.fail(key, "expected a string")
		return nil
	}
	s := v.StringValue()
	return &s
}

// Bool returns the boolean at key, or def when it is absent.
func (r *Reader) Bool(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if !v.IsBool() {
		r.fail(key, "expected a boolean")
		return def
	}
	return v.BoolValue()
}

// Number returns the number at key, or def when it is absent.
func (r *Reader) Number(key string, def float64) float64 {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if !v.IsNumber() {
		r.fail(key, "expected a number")
		return def
	}
	return v.NumberValue()
}

// StringMap returns the map of strings at key, or nil when it is absent.
func (r *Reader) StringMap(key string) map[string]string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	if !v.IsObject() {
		r.fail(key, "expected a map of strings")
		return nil
	}
	out := map[string]string{}
	for k, e := range v.ObjectValue() {
		e = Unwrap(e)
		if !e.IsString() {
			r.fail(key+"."+string(k), "expected a string")
			return nil
		}
		out[string(k)] = e.StringValue()
	}
	return out
}

// AssetOrArchive returns the asset or the archive at key (the other nil), or two nils
// when it is absent. Assets arrive as the engine sent them: path relative to the program
// directory and the hash the engine computed, nothing read by the provider.
func (r *Reader) AssetOrArchive(key string) (*resource.Asset, *resource.Archive) {
	v, ok := r.get(key)
	switch {
	case !ok:
		return nil, nil
	case v.IsAsset():
		return v.AssetValue(), nil
	case v.IsArchive():
		return nil, v.ArchiveValue()
	}
	r.fail(key, "expected an asset or an archive")
	return nil, nil
}

// Object returns a Reader for the object at key, or nil when it is absent.
func (r *Reader) Object(key string) *Reader {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	if !v.IsObject() {
		r.fail(key, "expected an object")
		return nil
	}
	return &Reader{props: v.ObjectValue(), path: join(r.path, key), err: r.err}
}

// Unwrap removes secret markers (at any depth) and known output wrappers from v.
func Unwrap(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Unwrap(v.SecretValue().Element)
	case v.IsOutput() && v.OutputValue().Known:
		return Unwrap(v.OutputValue().Element)
	case v.IsObject():
		m := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			m[k] = Unwrap(e)
		}
		return resource.NewObjectProperty(m)
	case v.IsArray():
		arr := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			arr[i] = Unwrap(e)
		}
		return resource.NewArrayProperty(arr)
	}
	return v
}

// ContainsUnknowns reports whether v is, or holds, a value unknown during preview.
func ContainsUnknowns(v resource.PropertyValue) bool {
	return v.ContainsUnknowns()
}
