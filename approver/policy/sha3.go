//go:build go1.24

package policy

import (
	"crypto/sha3"
	"hash"
)

// registerSHA3 adds the SHA-3 digests, which crypto/sha3 has since Go 1.24; cryptography
// verifies RSA and ECDSA signatures made with them.
func registerSHA3() {
	registerHash("sha3-224", "2.16.840.1.101.3.4.2.7", func() hash.Hash { return sha3.New224() })
	registerHash("sha3-256", "2.16.840.1.101.3.4.2.8", func() hash.Hash { return sha3.New256() })
	registerHash("sha3-384", "2.16.840.1.101.3.4.2.9", func() hash.Hash { return sha3.New384() })
	registerHash("sha3-512", "2.16.840.1.101.3.4.2.10", func() hash.Hash { return sha3.New512() })
}
