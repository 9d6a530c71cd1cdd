package policy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"math/big"
)

// Verifying the request's signature as cryptography's is_signature_valid does (OpenSSL
// underneath). cryptography 50 refuses SHA-1 and MD5 in PKCS#1 v1.5, ECDSA and DSA
// signatures (they do not verify) but verifies RSA-PSS with SHA-1, which the policy then
// refuses by name. RSA and DSA are computed here with math/big, with OpenSSL's limits, so
// that keys crypto/rsa refuses (small, or with a large exponent) verify as they do in Python.

// hashAlgorithm is a digest a signature may use.
type hashAlgorithm struct {
	name    string // as cryptography's HashAlgorithm.name
	id      oid
	newHash func() hash.Hash
}

var hashes = map[oid]*hashAlgorithm{}

func registerHash(name, dotted string, newHash func() hash.Hash) {
	id := mustOID(dotted)
	hashes[id] = &hashAlgorithm{name: name, id: id, newHash: newHash}
}

func init() {
	registerHash("sha1", "1.3.14.3.2.26", sha1.New)
	registerHash("sha224", "2.16.840.1.101.3.4.2.4", sha256.New224)
	registerHash("sha256", "2.16.840.1.101.3.4.2.1", sha256.New)
	registerHash("sha384", "2.16.840.1.101.3.4.2.2", sha512.New384)
	registerHash("sha512", "2.16.840.1.101.3.4.2.3", sha512.New)
	registerSHA3() // sha3.go, where the Go toolchain has crypto/sha3
}

func hashNamed(name string) *hashAlgorithm {
	for _, h := range hashes {
		if h.name == name {
			return h
		}
	}
	return nil // a SHA-3 digest the toolchain lacks
}

// scheme is how a signature algorithm signs: the key it needs, its digest and padding.
type scheme struct {
	key  string // publicKey.kind
	hash string // "" for Ed25519, Ed448 and ML-DSA, and for RSA-PSS (in its parameters)
	pss  bool
}

// The signature algorithms cryptography verifies. sha1WithRSAEncryption is known but
// refused, as is every algorithm missing here.
var schemes = map[oid]scheme{
	mustOID("1.2.840.113549.1.1.14"):   {key: "RSA", hash: "sha224"},
	mustOID("1.2.840.113549.1.1.11"):   {key: "RSA", hash: "sha256"},
	mustOID("1.2.840.113549.1.1.12"):   {key: "RSA", hash: "sha384"},
	mustOID("1.2.840.113549.1.1.13"):   {key: "RSA", hash: "sha512"},
	mustOID("2.16.840.1.101.3.4.3.13"): {key: "RSA", hash: "sha3-224"},
	mustOID("2.16.840.1.101.3.4.3.14"): {key: "RSA", hash: "sha3-256"},
	mustOID("2.16.840.1.101.3.4.3.15"): {key: "RSA", hash: "sha3-384"},
	mustOID("2.16.840.1.101.3.4.3.16"): {key: "RSA", hash: "sha3-512"},
	oidRSAPSS:                          {key: "RSA", pss: true},
	mustOID("1.2.840.10045.4.3.1"):     {key: "EllipticCurve", hash: "sha224"},
	mustOID("1.2.840.10045.4.3.2"):     {key: "EllipticCurve", hash: "sha256"},
	mustOID("1.2.840.10045.4.3.3"):     {key: "EllipticCurve", hash: "sha384"},
	mustOID("1.2.840.10045.4.3.4"):     {key: "EllipticCurve", hash: "sha512"},
	mustOID("2.16.840.1.101.3.4.3.9"):  {key: "EllipticCurve", hash: "sha3-224"},
	mustOID("2.16.840.1.101.3.4.3.10"): {key: "EllipticCurve", hash: "sha3-256"},
	mustOID("2.16.840.1.101.3.4.3.11"): {key: "EllipticCurve", hash: "sha3-384"},
	mustOID("2.16.840.1.101.3.4.3.12"): {key: "EllipticCurve", hash: "sha3-512"},
	mustOID("2.16.840.1.101.3.4.3.1"):  {key: "DSA", hash: "sha224"},
	mustOID("2.16.840.1.101.3.4.3.2"):  {key: "DSA", hash: "sha256"},
	oidEd25519:                         {key: "Ed25519"},
	oidEd448:                           {key: "Ed448"},
	oidMLDSA44:                         {key: "MLDSA44"},
	oidMLDSA65:                         {key: "MLDSA65"},
	oidMLDSA87:                         {key: "MLDSA87"},
}

// signatureAlgorithm is the request's signatureAlgorithm, as loaded.
type signatureAlgorithm struct {
	id  oid
	pss *pssParameters
}

func parseSignatureAlgorithm(contents []byte) (signatureAlgorithm, error) {
	id, params, present, err := parseAlgorithmIdentifier(contents)
	if err != nil {
		return signatureAlgorithm{}, err
	}
	algorithm := signatureAlgorithm{id: id}
	if id == oidRSAPSS && present {
		parsed, err := parsePSSParams(params)
		if err != nil {
			return signatureAlgorithm{}, err
		}
		algorithm.pss = &parsed
	}
	return algorithm, nil
}

// verification is the outcome of checking the signature.
type verification struct {
	valid bool
	hash  *hashAlgorithm // the digest of a valid signature, nil for Ed25519 and the like
}

// verify is is_signature_valid. Ed448 and ML-DSA signatures, which Go's standard library
// cannot check, count as valid: those keys are refused by the key rule in any case, and that
// is the rule the Python policy names for a well-signed request.
func verify(request *certificationRequest, key *publicKey) verification {
	s, ok := schemes[request.signature.id]
	if !ok || s.key != key.kind {
		return verification{}
	}
	digest, mgf := hashNamed(s.hash), (*hashAlgorithm)(nil)
	if s.pss {
		params := request.signature.pss
		if params == nil {
			return verification{} // "Invalid RSA PSS parameters"
		}
		digest, mgf = hashes[params.hash], hashes[params.mgfHash]
		if digest == nil || mgf == nil || params.mgf != oidMGF1 {
			return verification{}
		}
	}
	if s.hash != "" && digest == nil {
		return verification{}
	}
	message, signature := request.tbs, request.sigValue
	var valid bool
	switch key.kind {
	case "RSA":
		if s.pss {
			valid = verifyPSS(key, digest, mgf, request.signature.pss.saltLength, message, signature)
		} else {
			valid = verifyPKCS1v15(key, digest, message, signature)
		}
	case "EllipticCurve":
		valid = verifyECDSA(key, sum(digest, message), signature)
	case "DSA":
		valid = verifyDSA(key.dsa, sum(digest, message), signature)
	case "Ed25519":
		valid = ed25519.Verify(ed25519.PublicKey(key.raw), message, signature)
	default: // Ed448, ML-DSA
		valid = true
	}
	if !valid {
		return verification{}
	}
	return verification{valid: true, hash: digest}
}

func sum(h *hashAlgorithm, message []byte) []byte {
	d := h.newHash()
	d.Write(message)
	return d.Sum(nil)
}

// rsaPublic is RSA_public_decrypt's arithmetic with OpenSSL's limits: a modulus of at most
// 16384 bits, odd, an exponent of at most 64 bits above 3072-bit moduli, a signature of
// exactly the modulus' length below the modulus.
func rsaPublic(key *publicKey, signature []byte) ([]byte, bool) {
	n, e := key.n, key.e
	size := (n.BitLen() + 7) / 8
	if n.BitLen() > 16384 || n.Bit(0) == 0 || n.BitLen() > 3072 && e.BitLen() > 64 || len(signature) != size {
		return nil, false
	}
	s := new(big.Int).SetBytes(signature)
	if s.Cmp(n) >= 0 {
		return nil, false
	}
	return new(big.Int).Exp(s, e, n).FillBytes(make([]byte, size)), true
}

// verifyPKCS1v15 compares the decrypted block with the one expected, DigestInfo with NULL
// parameters as OpenSSL writes it.
func verifyPKCS1v15(key *publicKey, digest *hashAlgorithm, message, signature []byte) bool {
	em, ok := rsaPublic(key, signature)
	if !ok {
		return false
	}
	hashed := sum(digest, message)
	algorithm := derSequence(append(derTLV(tagOID, []byte(digest.id)), tagNull, 0))
	info := derSequence(append(algorithm, derTLV(tagOctetString, hashed)...))
	if len(em) < len(info)+11 {
		return false
	}
	expected := make([]byte, len(em))
	expected[1] = 1
	for i := 2; i < len(em)-len(info)-1; i++ {
		expected[i] = 0xff
	}
	copy(expected[len(em)-len(info):], info)
	return bytes.Equal(em, expected)
}

// verifyPSS is OpenSSL's RSA_verify_PKCS1_PSS_mgf1 with the salt length of the parameters.
func verifyPSS(key *publicKey, digest, mgf *hashAlgorithm, saltLength int, message, signature []byte) bool {
	em, ok := rsaPublic(key, signature)
	if !ok {
		return false
	}
	hLen := digest.newHash().Size()
	msBits := (key.n.BitLen() - 1) & 7
	if em[0]&(0xff<<msBits) != 0 {
		return false
	}
	if msBits == 0 {
		em = em[1:]
	}
	if len(em) < hLen+2 || saltLength > len(em)-hLen-2 || em[len(em)-1] != 0xbc {
		return false
	}
	maskedLen := len(em) - hLen - 1
	h := em[maskedLen : len(em)-1]
	db := mgf1(mgf, h, maskedLen)
	for i := range db {
		db[i] ^= em[i]
	}
	if msBits != 0 {
		db[0] &= 0xff >> (8 - msBits)
	}
	i := 0
	for i < maskedLen-1 && db[i] == 0 {
		i++
	}
	if db[i] != 1 || maskedLen-i-1 != saltLength {
		return false
	}
	d := digest.newHash()
	d.Write(make([]byte, 8))
	d.Write(sum(digest, message))
	d.Write(db[i+1:])
	return bytes.Equal(d.Sum(nil), h)
}

func mgf1(h *hashAlgorithm, seed []byte, length int) []byte {
	var out []byte
	for counter := uint32(0); len(out) < length; counter++ {
		d := h.newHash()
		d.Write(seed)
		d.Write([]byte{byte(counter >> 24), byte(counter >> 16), byte(counter >> 8), byte(counter)})
		out = d.Sum(out)
	}
	return out[:length]
}

// dssSignature reads Dss-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, in strict DER as
// OpenSSL requires (it encodes what it decoded again and compares).
func dssSignature(signature []byte) (r, s *big.Int, ok bool) {
	contents, err := single(signature, tagSequence)
	if err != nil {
		return nil, nil, false
	}
	seq := reader{contents}
	rBody, err1 := seq.read(tagInteger)
	sBody, err2 := seq.read(tagInteger)
	if err1 != nil || err2 != nil || seq.end() != nil {
		return nil, nil, false
	}
	r, err1 = parseBigInt(rBody)
	s, err2 = parseBigInt(sBody)
	return r, s, err1 == nil && err2 == nil
}

// verifyECDSA checks on crypto/ecdsa where Go has the curve, by the textbook otherwise.
func verifyECDSA(key *publicKey, digest, signature []byte) bool {
	c := key.curve
	if c.native != nil {
		return ecdsa.VerifyASN1(&ecdsa.PublicKey{Curve: c.native, X: key.x, Y: key.y}, digest, signature)
	}
	r, s, ok := dssSignature(signature)
	if !ok || r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(c.n) >= 0 || s.Cmp(c.n) >= 0 {
		return false
	}
	e := new(big.Int).SetBytes(digest)
	if excess := len(digest)*8 - c.n.BitLen(); excess > 0 {
		e.Rsh(e, uint(excess))
	}
	w := new(big.Int).ModInverse(s, c.n)
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, c.n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, c.n)
	x1, y1 := c.multiply(c.gx, c.gy, u1)
	x2, y2 := c.multiply(key.x, key.y, u2)
	x, _ := c.add(x1, y1, x2, y2)
	if x == nil {
		return false
	}
	return new(big.Int).Mod(x, c.n).Cmp(r) == 0
}

// add adds two affine points; nil stands for the point at infinity.
func (c *curve) add(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	if x1 == nil {
		return x2, y2
	}
	if x2 == nil {
		return x1, y1
	}
	var slope *big.Int
	if x1.Cmp(x2) == 0 {
		if sum := new(big.Int).Add(y1, y2); sum.Mod(sum, c.p).Sign() == 0 {
			return nil, nil
		}
		numerator := new(big.Int).Mul(x1, x1)
		numerator.Mul(numerator, big.NewInt(3)).Add(numerator, c.a)
		denominator := new(big.Int).Lsh(y1, 1)
		slope = numerator.Mul(numerator, denominator.ModInverse(denominator, c.p))
	} else {
		numerator := new(big.Int).Sub(y2, y1)
		denominator := new(big.Int).Sub(x2, x1)
		denominator.Mod(denominator, c.p)
		slope = numerator.Mul(numerator, denominator.ModInverse(denominator, c.p))
	}
	slope.Mod(slope, c.p)
	x := new(big.Int).Mul(slope, slope)
	x.Sub(x, x1).Sub(x, x2).Mod(x, c.p)
	y := new(big.Int).Sub(x1, x)
	y.Mul(y, slope).Sub(y, y1).Mod(y, c.p)
	return x, y
}

// multiply is k·(x, y) by double-and-add; the inputs are public, so timing does not matter.
func (c *curve) multiply(x, y, k *big.Int) (*big.Int, *big.Int) {
	var rx, ry *big.Int
	for i := k.BitLen() - 1; i >= 0; i-- {
		rx, ry = c.add(rx, ry, rx, ry)
		if k.Bit(i) == 1 {
			rx, ry = c.add(rx, ry, x, y)
		}
	}
	return rx, ry
}

// verifyDSA is OpenSSL's ossl_dsa_do_verify: q of 160, 224 or 256 bits, p of at most
// 10000 bits, the digest cut to q's length.
func verifyDSA(key *dsaKey, digest, signature []byte) bool {
	qBits := key.q.BitLen()
	if qBits != 160 && qBits != 224 && qBits != 256 || key.p.BitLen() > 10000 || key.p.Bit(0) == 0 {
		return false
	}
	r, s, ok := dssSignature(signature)
	if !ok || r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(key.q) >= 0 || s.Cmp(key.q) >= 0 {
		return false
	}
	if len(digest) > qBits/8 {
		digest = digest[:qBits/8]
	}
	w := new(big.Int).ModInverse(s, key.q)
	if w == nil {
		return false
	}
	u1 := new(big.Int).Mul(new(big.Int).SetBytes(digest), w)
	u1.Mod(u1, key.q)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, key.q)
	v := new(big.Int).Exp(key.g, u1, key.p)
	v.Mul(v, new(big.Int).Exp(key.y, u2, key.p)).Mod(v, key.p).Mod(v, key.q)
	return v.Cmp(r) == 0
}

// derTLV and derSequence write the few DER elements the PKCS#1 check builds.
func derTLV(tag byte, body []byte) []byte {
	length := len(body)
	var header []byte
	switch {
	case length < 0x80:
		header = []byte{tag, byte(length)}
	case length < 0x100:
		header = []byte{tag, 0x81, byte(length)}
	default:
		header = []byte{tag, 0x82, byte(length >> 8), byte(length)}
	}
	return append(header, body...)
}

func derSequence(body []byte) []byte { return derTLV(tagSequence, body) }
