package random

import (
	"crypto/rand"
	"errors"
	"math/big"
)

// Character classes of terraform-provider-random.
const (
	numChars       = "0123456789"
	lowerChars     = "abcdefghijklmnopqrstuvwxyz"
	upperChars     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"
)

// Params are the effective (defaulted) generation settings.
type Params struct {
	Length                                     int
	Upper, Lower, Numeric, Special             bool
	MinUpper, MinLower, MinNumeric, MinSpecial int
	OverrideSpecial                            string
}

// Generate follows terraform-provider-random's CreateString: first the minimum count of
// each class (drawn from that class even when the class is disabled, as upstream does),
// then the rest from the union of the enabled classes, then a shuffle. Only crypto/rand
// is used.
func Generate(p Params) (string, error) {
	special := defaultSpecial
	if p.OverrideSpecial != "" {
		special = p.OverrideSpecial
	}
	var chars string
	if p.Upper {
		chars += upperChars
	}
	if p.Lower {
		chars += lowerChars
	}
	if p.Numeric {
		chars += numChars
	}
	if p.Special {
		chars += special
	}

	result := make([]byte, 0, p.Length)
	for _, m := range []struct {
		set string
		n   int
	}{{numChars, p.MinNumeric}, {lowerChars, p.MinLower}, {upperChars, p.MinUpper}, {special, p.MinSpecial}} {
		b, err := pick(m.set, m.n)
		if err != nil {
			return "", err
		}
		result = append(result, b...)
	}
	rest := p.Length - len(result)
	if rest > 0 && chars == "" {
		return "", errors.New("no characters to choose from: enable at least one of upper, lower, numeric, special")
	}
	b, err := pick(chars, rest)
	if err != nil {
		return "", err
	}
	result = append(result, b...)
	if err := shuffle(result); err != nil {
		return "", err
	}
	return string(result), nil
}

func pick(set string, n int) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	out := make([]byte, n)
	size := big.NewInt(int64(len(set)))
	for i := range out {
		idx, err := rand.Int(rand.Reader, size)
		if err != nil {
			return nil, err
		}
		out[i] = set[idx.Int64()]
	}
	return out, nil
}

// shuffle is a Fisher-Yates shuffle driven by crypto/rand.
func shuffle(b []byte) error {
	for i := len(b) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return err
		}
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return nil
}
