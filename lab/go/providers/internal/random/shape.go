// Package random is a stand-in for RandomString and RandomPassword of pulumi-random
// 4.21.4 (terraform-provider-random underneath), as the lab's program uses them.
package random

import "kubelet-bootstrap.lab/providers/internal/shape"

// Resource type tokens.
const (
	StringToken   = "random:index/randomString:RandomString"
	PasswordToken = "random:index/randomPassword:RandomPassword"
)

// Inputs of both resources. Every input forces a replacement (RequiresReplace in
// terraform-provider-random); defaults are filled into the state, not the inputs, as the
// upstream plan modifiers do.
var Inputs = &shape.Object{Fields: map[string]shape.Field{
	"length": {Kind: shape.Integer, Required: true, ReplaceOnChanges: true,
		Description: "The length of the string desired. The minimum value for length is 1 and, length must also be >= (minUpper + minLower + minNumeric + minSpecial)."},
	"keepers": {Kind: shape.StringMap, ReplaceOnChanges: true,
		Description: "Arbitrary map of values that, when changed, will trigger recreation of resource."},
	"special":         {Kind: shape.Bool, ReplaceOnChanges: true, Description: "Include special characters in the result. These are `!@#$%&*()-_=+[]{}<>:?`. Default value is `true`."},
	"upper":           {Kind: shape.Bool, ReplaceOnChanges: true, Description: "Include uppercase alphabet characters in the result. Default value is `true`."},
	"lower":           {Kind: shape.Bool, ReplaceOnChanges: true, Description: "Include lowercase alphabet characters in the result. Default value is `true`."},
	"numeric":         {Kind: shape.Bool, ReplaceOnChanges: true, Description: "Include numeric characters in the result. Default value is `true`."},
	"number":          {Kind: shape.Bool, ReplaceOnChanges: true, Description: "Include numeric characters in the result. Deprecated: use `numeric`."},
	"minUpper":        {Kind: shape.Integer, ReplaceOnChanges: true, Description: "Minimum number of uppercase alphabet characters in the result. Default value is `0`."},
	"minLower":        {Kind: shape.Integer, ReplaceOnChanges: true, Description: "Minimum number of lowercase alphabet characters in the result. Default value is `0`."},
	"minNumeric":      {Kind: shape.Integer, ReplaceOnChanges: true, Description: "Minimum number of numeric characters in the result. Default value is `0`."},
	"minSpecial":      {Kind: shape.Integer, ReplaceOnChanges: true, Description: "Minimum number of special characters in the result. Default value is `0`."},
	"overrideSpecial": {Kind: shape.String, ReplaceOnChanges: true, Description: "Supply your own list of special characters to use for string generation."},
}}

// outputs each resource adds to its inputs.
func outputFields(token string) map[string]shape.Field {
	out := map[string]shape.Field{
		"result": {Kind: shape.String, Description: "The generated random string."},
	}
	for _, k := range []string{"special", "upper", "lower", "numeric", "number"} {
		out[k] = shape.Field{Kind: shape.Bool}
	}
	for _, k := range []string{"minUpper", "minLower", "minNumeric", "minSpecial"} {
		out[k] = shape.Field{Kind: shape.Integer}
	}
	if token == PasswordToken {
		out["result"] = shape.Field{Kind: shape.String, Secret: true, Description: "The generated random string."}
		out["bcryptHash"] = shape.Field{Kind: shape.String, Secret: true,
			Description: "A bcrypt hash of the generated random string."}
	}
	return out
}

func inputKeys() []string {
	keys := make([]string, 0, len(Inputs.Fields))
	for k := range Inputs.Fields {
		keys = append(keys, k)
	}
	return keys
}
