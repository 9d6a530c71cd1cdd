// Package shape describes the input properties of a resource once, so that the same
// description validates inputs (Check), fills defaults, and produces the package schema.
package shape

import "github.com/pulumi/pulumi/sdk/v3/go/common/resource"

// Kind is the type of a property in the Pulumi type system.
type Kind int

const (
	String         Kind = iota // a string
	Bool                       // a boolean
	Number                     // any number
	Integer                    // a number without a fractional part
	Nested                     // a nested object described by Field.Object
	StringMap                  // an object whose values are strings
	AnyArray                   // an array of values of any type
	AssetOrArchive             // an asset or an archive (schema pulumi.json#/Asset)
)

// Field describes one property.
type Field struct {
	Kind        Kind
	Description string
	Required    bool
	// Default is filled in by Check when the property is absent (string, bool or float64).
	Default any
	// Enum lists the allowed values of a String; EnumToken names its schema type.
	Enum      []string
	EnumToken string
	// Object describes the properties of an Object.
	Object *Object
	// Secret marks the property secret whatever the caller sent (schema "secret": true).
	Secret bool
	// ReplaceOnChanges is reported in the schema; the provider's Diff enforces it.
	ReplaceOnChanges bool
}

// Object is a set of named properties; Token names it in the schema when it is nested.
type Object struct {
	Token       string
	Description string
	Fields      map[string]Field
}

// Failure is a property that failed validation, as CheckResponse reports it.
type Failure struct {
	Property string
	Reason   string
}

// defaultValue converts a Go default into a property value.
func defaultValue(v any) resource.PropertyValue {
	switch d := v.(type) {
	case string:
		return resource.NewStringProperty(d)
	case bool:
		return resource.NewBoolProperty(d)
	case float64:
		return resource.NewNumberProperty(d)
	case int:
		return resource.NewNumberProperty(float64(d))
	}
	panic("shape: unsupported default type")
}
