//go:build !go1.24

package policy

// registerSHA3 adds nothing before Go 1.24, which has no crypto/sha3: a request signed with
// a SHA-3 digest is then refused by the signature rule, where the Python policy verifies it.
func registerSHA3() {}
