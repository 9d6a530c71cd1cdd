package random

import (
	"strings"
	"testing"
)

func count(s, set string) int {
	n := 0
	for _, c := range s {
		if strings.ContainsRune(set, c) {
			n++
		}
	}
	return n
}

func TestGenerateRespectsCharsetAndLength(t *testing.T) {
	// The bootstrap token's id and secret: lowercase letters and digits only.
	for range 200 {
		s, err := Generate(Params{Length: 16, Lower: true, Numeric: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 16 || count(s, lowerChars+numChars) != 16 {
			t.Fatalf("%q is not [a-z0-9]{16}", s)
		}
	}
}

func TestGenerateUsesEveryEnabledClass(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		s, err := Generate(Params{Length: 20, Upper: true, Lower: true, Numeric: true, Special: true})
		if err != nil {
			t.Fatal(err)
		}
		for name, set := range map[string]string{"upper": upperChars, "lower": lowerChars, "num": numChars, "special": defaultSpecial} {
			if count(s, set) > 0 {
				seen[name] = true
			}
		}
	}
	if len(seen) != 4 {
		t.Fatalf("classes seen: %v", seen)
	}
}

func TestGenerateMinimums(t *testing.T) {
	for range 100 {
		s, err := Generate(Params{Length: 8, Lower: true, MinNumeric: 3, MinUpper: 2, MinSpecial: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Upstream draws the minimums from their class even when the class is disabled.
		if len(s) != 8 || count(s, numChars) < 3 || count(s, upperChars) < 2 || count(s, defaultSpecial) < 1 {
			t.Fatalf("%q misses a minimum", s)
		}
	}
}

func TestGenerateOverrideSpecial(t *testing.T) {
	for range 50 {
		s, err := Generate(Params{Length: 12, Special: true, OverrideSpecial: "-_"})
		if err != nil {
			t.Fatal(err)
		}
		if count(s, "-_") != 12 {
			t.Fatalf("%q uses characters outside overrideSpecial", s)
		}
	}
}

func TestGenerateWithoutCharactersFails(t *testing.T) {
	if _, err := Generate(Params{Length: 4}); err == nil {
		t.Fatal("want an error when no class is enabled")
	}
}

func TestGenerateIsNotConstant(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		s, _ := Generate(Params{Length: 16, Lower: true, Numeric: true})
		seen[s] = true
	}
	if len(seen) < 20 {
		t.Fatalf("only %d distinct values in 20", len(seen))
	}
}
