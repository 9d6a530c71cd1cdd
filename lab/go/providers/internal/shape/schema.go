package shape

import (
	"encoding/json"
	"sort"
)

// Resource is one resource of a package schema: its inputs and the outputs it adds.
type Resource struct {
	Token       string
	Description string
	Inputs      *Object
	// Outputs are the properties the provider adds to the inputs in its state.
	Outputs map[string]Field
}

// PackageSchema renders the Pulumi package schema (JSON) of the given resources. It is
// deliberately small: enough for `pulumi package get-schema`, `import` and codegen to
// see every property, its type, default, secretness and replaceOnChanges.
func PackageSchema(name, version, description string, resources []Resource) ([]byte, error) {
	types := map[string]any{}
	res := map[string]any{}
	for _, r := range resources {
		inputs := properties(r.Inputs, types)
		all := properties(r.Inputs, types)
		var required []string
		for k, f := range r.Outputs {
			all[k] = property(f, types)
			required = append(required, k)
		}
		for k, f := range r.Inputs.Fields {
			if f.Required || f.Default != nil {
				required = append(required, k)
			}
		}
		sort.Strings(required)
		res[r.Token] = map[string]any{
			"description":     r.Description,
			"type":            "object",
			"properties":      all,
			"required":        required,
			"inputProperties": inputs,
			"requiredInputs":  requiredNames(r.Inputs),
		}
	}
	return json.MarshalIndent(map[string]any{
		"name":        name,
		"version":     version,
		"description": description,
		"config":      map[string]any{},
		"provider":    map[string]any{"type": "object"},
		"types":       types,
		"resources":   res,
	}, "", "  ")
}

func properties(o *Object, types map[string]any) map[string]any {
	out := map[string]any{}
	for k, f := range o.Fields {
		out[k] = property(f, types)
	}
	return out
}

func property(f Field, types map[string]any) map[string]any {
	p := map[string]any{}
	if f.Description != "" {
		p["description"] = f.Description
	}
	if f.Default != nil {
		p["default"] = f.Default
	}
	if f.Secret {
		p["secret"] = true
	}
	if f.ReplaceOnChanges {
		p["replaceOnChanges"] = true
	}
	switch f.Kind {
	case String:
		if f.EnumToken != "" {
			p["$ref"] = "#/types/" + f.EnumToken
			var values []map[string]any
			for _, v := range f.Enum {
				values = append(values, map[string]any{"value": v})
			}
			types[f.EnumToken] = map[string]any{"type": "string", "enum": values}
		} else {
			p["type"] = "string"
		}
	case Bool:
		p["type"] = "boolean"
	case Number:
		p["type"] = "number"
	case Integer:
		p["type"] = "integer"
	case Nested:
		p["$ref"] = "#/types/" + f.Object.Token
		types[f.Object.Token] = map[string]any{
			"description": f.Object.Description,
			"type":        "object",
			"properties":  properties(f.Object, types),
			"required":    requiredNames(f.Object),
		}
	case StringMap:
		p["type"] = "object"
		p["additionalProperties"] = map[string]any{"type": "string"}
	case AnyArray:
		p["type"] = "array"
		p["items"] = map[string]any{"$ref": "pulumi.json#/Any"}
	case AssetOrArchive:
		// pulumi.json#/Asset is the union of both, as in pulumi-command's own schema.
		p["$ref"] = "pulumi.json#/Asset"
	}
	return p
}

func requiredNames(o *Object) []string {
	names := []string{}
	for k, f := range o.Fields {
		if f.Required {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}
