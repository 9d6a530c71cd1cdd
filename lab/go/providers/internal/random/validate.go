package random

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"kubelet-bootstrap.lab/providers/internal/shape"
)

var minKeys = []string{"minUpper", "minLower", "minNumeric", "minSpecial"}

// validate applies upstream's cross-field rules to the values that are known: length at
// least 1 and at least the sum of the minimums, minimums not negative, and number and
// numeric (its deprecated alias) not contradicting each other.
func validate(props resource.PropertyMap) []shape.Failure {
	var failures []shape.Failure
	num := func(k string) (float64, bool) {
		v := shape.Unwrap(props[resource.PropertyKey(k)])
		if !v.IsNumber() {
			return 0, false
		}
		return v.NumberValue(), true
	}
	sum, allKnown := 0.0, true
	for _, k := range minKeys {
		v, ok := num(k)
		if !ok {
			if props[resource.PropertyKey(k)].ContainsUnknowns() {
				allKnown = false
			}
			continue
		}
		if v < 0 {
			failures = append(failures, shape.Failure{Property: k, Reason: fmt.Sprintf("%s: must be at least 0, got %v", k, v)})
		}
		sum += v
	}
	if length, ok := num("length"); ok {
		if length < 1 {
			failures = append(failures, shape.Failure{Property: "length", Reason: fmt.Sprintf("length: must be at least 1, got %v", length)})
		} else if allKnown && length < sum {
			failures = append(failures, shape.Failure{Property: "length", Reason: fmt.Sprintf(
				"length: %v is less than minUpper + minLower + minNumeric + minSpecial = %v", length, sum)})
		}
	}
	number := shape.Unwrap(props["number"])
	numeric := shape.Unwrap(props["numeric"])
	if number.IsBool() && numeric.IsBool() && number.BoolValue() != numeric.BoolValue() {
		failures = append(failures, shape.Failure{Property: "numeric",
			Reason: "number and numeric are both configured with different values"})
	}
	return failures
}

// params reads the effective settings from known inputs, upstream defaults filled in.
func params(props resource.PropertyMap) (Params, error) {
	r := shape.NewReader(props, "")
	numeric := r.Bool("numeric", r.Bool("number", true))
	p := Params{
		Length:          int(r.Number("length", 0)),
		Upper:           r.Bool("upper", true),
		Lower:           r.Bool("lower", true),
		Numeric:         numeric,
		Special:         r.Bool("special", true),
		MinUpper:        int(r.Number("minUpper", 0)),
		MinLower:        int(r.Number("minLower", 0)),
		MinNumeric:      int(r.Number("minNumeric", 0)),
		MinSpecial:      int(r.Number("minSpecial", 0)),
		OverrideSpecial: "",
	}
	if s := r.String("overrideSpecial"); s != nil {
		p.OverrideSpecial = *s
	}
	return p, r.Err()
}
