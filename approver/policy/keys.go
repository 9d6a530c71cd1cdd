package policy

import (
	"crypto/elliptic"
	"errors"
	"math/big"
)

// Public keys as cryptography loads them: what `request.public_key()` returns, or raises.
// The policy accepts ECDSA P-256/P-384 and RSA of 2048+ bits; the other keys cryptography
// loads are read too, so that a refusal names the same rule as the Python policy (a valid
// signature by a P-521 key is refused by the key rule, a broken one by the signature rule).

// Algorithm identifiers of keys and signatures.
var (
	oidRSA       = mustOID("1.2.840.113549.1.1.1")
	oidRSAPSS    = mustOID("1.2.840.113549.1.1.10")
	oidMGF1      = mustOID("1.2.840.113549.1.1.8")
	oidECKey     = mustOID("1.2.840.10045.2.1")
	oidDSAKey    = mustOID("1.2.840.10040.4.1")
	oidEd25519   = mustOID("1.3.101.112")
	oidEd448     = mustOID("1.3.101.113")
	oidX25519    = mustOID("1.3.101.110")
	oidX448      = mustOID("1.3.101.111")
	oidMLDSA44   = mustOID("2.16.840.1.101.3.4.3.17")
	oidMLDSA65   = mustOID("2.16.840.1.101.3.4.3.18")
	oidMLDSA87   = mustOID("2.16.840.1.101.3.4.3.19")
	oidSHA1      = mustOID("1.3.14.3.2.26")
	errKeyLoad   = errors.New("the public key cannot be loaded")
	errKeyParams = errors.New("unexpected algorithm parameters")
)

// curve is a short Weierstrass curve y² = x³ + ax + b over GF(p), of prime order n.
type curve struct {
	name      string // as cryptography's curve.name
	p, a, b   *big.Int
	gx, gy, n *big.Int
	native    elliptic.Curve // crypto/ecdsa verifies on it; nil for the others
}

func hexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("bad constant " + s)
	}
	return n
}

func nistCurve(name string, c elliptic.Curve) *curve {
	params := c.Params()
	return &curve{name: name, p: params.P, a: new(big.Int).Sub(params.P, big.NewInt(3)), b: params.B,
		gx: params.Gx, gy: params.Gy, n: params.N, native: c}
}

// The curves cryptography supports (ec._CURVE_TYPES), by OID.
var curves = map[oid]*curve{
	mustOID("1.2.840.10045.3.1.1"): {name: "secp192r1",
		p:  hexInt("fffffffffffffffffffffffffffffffeffffffffffffffff"),
		a:  hexInt("fffffffffffffffffffffffffffffffefffffffffffffffc"),
		b:  hexInt("64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1"),
		gx: hexInt("188da80eb03090f67cbf20eb43a18800f4ff0afd82ff1012"),
		gy: hexInt("07192b95ffc8da78631011ed6b24cdd573f977a11e794811"),
		n:  hexInt("ffffffffffffffffffffffff99def836146bc9b1b4d22831")},
	mustOID("1.3.132.0.33"):        nistCurve("secp224r1", elliptic.P224()),
	mustOID("1.2.840.10045.3.1.7"): nistCurve("secp256r1", elliptic.P256()),
	mustOID("1.3.132.0.34"):        nistCurve("secp384r1", elliptic.P384()),
	mustOID("1.3.132.0.35"):        nistCurve("secp521r1", elliptic.P521()),
	mustOID("1.3.132.0.10"): {name: "secp256k1",
		p:  hexInt("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"),
		a:  big.NewInt(0),
		b:  big.NewInt(7),
		gx: hexInt("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
		gy: hexInt("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"),
		n:  hexInt("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")},
	mustOID("1.3.36.3.3.2.8.1.1.7"): {name: "brainpoolP256r1",
		p:  hexInt("a9fb57dba1eea9bc3e660a909d838d726e3bf623d52620282013481d1f6e5377"),
		a:  hexInt("7d5a0975fc2c3057eef67530417affe7fb8055c126dc5c6ce94a4b44f330b5d9"),
		b:  hexInt("26dc5c6ce94a4b44f330b5d9bbd77cbf958416295cf7e1ce6bccdc18ff8c07b6"),
		gx: hexInt("8bd2aeb9cb7e57cb2c4b482ffc81b7afb9de27e1e3bd23c23a4453bd9ace3262"),
		gy: hexInt("547ef835c3dac4fd97f8461a14611dc9c27745132ded8e545c1d54c72f046997"),
		n:  hexInt("a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7")},
	mustOID("1.3.36.3.3.2.8.1.1.11"): {name: "brainpoolP384r1",
		p:  hexInt("8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b412b1da197fb71123acd3a729901d1a71874700133107ec53"),
		a:  hexInt("7bc382c63d8c150c3c72080ace05afa0c2bea28e4fb22787139165efba91f90f8aa5814a503ad4eb04a8c7dd22ce2826"),
		b:  hexInt("04a8c7dd22ce28268b39b55416f0447c2fb77de107dcd2a62e880ea53eeb62d57cb4390295dbc9943ab78696fa504c11"),
		gx: hexInt("1d1c64f068cf45ffa2a63a81b7c13f6b8847a3e77ef14fe3db7fcafe0cbd10e8e826e03436d646aaef87b2e247d4af1e"),
		gy: hexInt("8abe1d7520f9c2a45cb1eb8e95cfd55262b70b29feec5864e19c054ff99129280e4646217791811142820341263c5315"),
		n:  hexInt("8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f166e6cac0425a7cf3ab6af6b7fc3103b883202e9046565")},
	mustOID("1.3.36.3.3.2.8.1.1.13"): {name: "brainpoolP512r1",
		p:  hexInt("aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca703308717d4d9b009bc66842aecda12ae6a380e62881ff2f2d82c68528aa6056583a48f3"),
		a:  hexInt("7830a3318b603b89e2327145ac234cc594cbdd8d3df91610a83441caea9863bc2ded5d5aa8253aa10a2ef1c98b9ac8b57f1117a72bf2c7b9e7c1ac4d77fc94ca"),
		b:  hexInt("3df91610a83441caea9863bc2ded5d5aa8253aa10a2ef1c98b9ac8b57f1117a72bf2c7b9e7c1ac4d77fc94cadc083e67984050b75ebae5dd2809bd638016f723"),
		gx: hexInt("81aee4bdd82ed9645a21322e9c4c6a9385ed9f70b5d916c1b43b62eef4d0098eff3b1f78e2d0d48d50d1687b93b97d5f7c6d5047406a5e688b352209bcb9f822"),
		gy: hexInt("7dde385d566332ecc0eabfa9cf7822fdf209f70024a57b1aa000c55b881f8111b2dcde494a5f485e5bca4bd88a2763aed1ca2b2fa8f0540678cd1e0f3ad80892"),
		n:  hexInt("aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330870553e5c414ca92619418661197fac10471db1d381085ddaddb58796829ca90069")},
}

// onCurve reports whether (x, y) is a point of c.
func (c *curve) onCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || x.Cmp(c.p) >= 0 || y.Sign() < 0 || y.Cmp(c.p) >= 0 {
		return false
	}
	left := new(big.Int).Mul(y, y)
	right := new(big.Int).Mul(x, x)
	right.Add(right, c.a).Mul(right, x).Add(right, c.b)
	return left.Sub(left, right).Mod(left, c.p).Sign() == 0
}

// decodePoint is OpenSSL's EC_POINT_oct2point: uncompressed (04), compressed (02, 03) and
// hybrid (06, 07) points; the point at infinity and points off the curve are refused.
func (c *curve) decodePoint(data []byte) (x, y *big.Int, err error) {
	size := (c.p.BitLen() + 7) / 8
	if len(data) == 0 {
		return nil, nil, errKeyLoad
	}
	form := data[0]
	switch {
	case (form == 2 || form == 3) && len(data) == 1+size:
		x = new(big.Int).SetBytes(data[1:])
		if x.Cmp(c.p) >= 0 {
			return nil, nil, errKeyLoad
		}
		y = new(big.Int).Mul(x, x)
		y.Add(y, c.a).Mul(y, x).Add(y, c.b).Mod(y, c.p)
		if y.ModSqrt(y, c.p) == nil {
			return nil, nil, errKeyLoad
		}
		if y.Bit(0) != uint(form&1) {
			y.Sub(c.p, y).Mod(y, c.p)
		}
		if y.Bit(0) != uint(form&1) { // y == 0 cannot have odd parity
			return nil, nil, errKeyLoad
		}
	case (form == 4 || form == 6 || form == 7) && len(data) == 1+2*size:
		x = new(big.Int).SetBytes(data[1 : 1+size])
		y = new(big.Int).SetBytes(data[1+size:])
		if form != 4 && y.Bit(0) != uint(form&1) {
			return nil, nil, errKeyLoad
		}
	default:
		return nil, nil, errKeyLoad
	}
	if !c.onCurve(x, y) {
		return nil, nil, errKeyLoad
	}
	return x, y, nil
}

// subjectPublicKeyInfo is the request's key as loaded, before cryptography reads the key.
type subjectPublicKeyInfo struct {
	algorithm oid
	params    element // the parameters; a zero element when absent
	key       []byte  // the BIT STRING's bytes
}

func parseSubjectPublicKeyInfo(contents []byte) (subjectPublicKeyInfo, error) {
	r := reader{contents}
	algorithm, err := r.read(tagSequence)
	if err != nil {
		return subjectPublicKeyInfo{}, err
	}
	id, params, _, err := parseAlgorithmIdentifier(algorithm)
	if err != nil {
		return subjectPublicKeyInfo{}, err
	}
	bits, err := r.read(tagBitString)
	if err != nil {
		return subjectPublicKeyInfo{}, err
	}
	key, err := parseBitString(bits)
	if err != nil {
		return subjectPublicKeyInfo{}, err
	}
	return subjectPublicKeyInfo{algorithm: id, params: params, key: key}, r.end()
}

// publicKey is what `request.public_key()` returns.
type publicKey struct {
	kind  string // the class name without "PublicKey": RSA, EllipticCurve, Ed25519...
	n, e  *big.Int
	curve *curve
	x, y  *big.Int
	raw   []byte
	dsa   *dsaKey
}

type dsaKey struct{ p, q, g, y *big.Int }

// Raw key lengths of the keys cryptography reads as bytes.
var rawKeys = map[oid]struct {
	kind string
	size int
}{
	oidEd25519: {"Ed25519", 32}, oidEd448: {"Ed448", 57}, oidX25519: {"X25519", 32}, oidX448: {"X448", 56},
	oidMLDSA44: {"MLDSA44", 1312}, oidMLDSA65: {"MLDSA65", 1952}, oidMLDSA87: {"MLDSA87", 2592},
}

// loadPublicKey is cryptography's load_der_public_key_bytes on the request's key; an error
// is an exception the Python policy does not catch.
func loadPublicKey(spki subjectPublicKeyInfo) (*publicKey, error) {
	switch spki.algorithm {
	case oidRSA, oidRSAPSS:
		body, err := single(spki.key, tagSequence)
		if err != nil {
			return nil, errKeyLoad
		}
		r := reader{body}
		nBody, err1 := r.read(tagInteger)
		eBody, err2 := r.read(tagInteger)
		if err1 != nil || err2 != nil || r.end() != nil {
			return nil, errKeyLoad
		}
		n, err1 := parseBigUint(nBody)
		e, err2 := parseBigUint(eBody)
		if err1 != nil || err2 != nil || e.Cmp(big.NewInt(3)) < 0 || e.Cmp(n) >= 0 {
			return nil, errKeyLoad // "e must be >= 3 and < n"
		}
		return &publicKey{kind: "RSA", n: n, e: e}, nil
	case oidECKey:
		if !spki.params.is(tagOID) {
			return nil, errKeyLoad // implicit or explicit curves
		}
		c, ok := curves[oid(spki.params.body)]
		if !ok {
			return nil, errKeyLoad
		}
		x, y, err := c.decodePoint(spki.key)
		if err != nil {
			return nil, err
		}
		return &publicKey{kind: "EllipticCurve", curve: c, x: x, y: y}, nil
	case oidDSAKey:
		r := reader{spki.params.body}
		var values []*big.Int
		for i := 0; i < 3; i++ {
			body, err := r.read(tagInteger)
			if err != nil {
				return nil, errKeyLoad
			}
			value, err := parseBigUint(body)
			if err != nil {
				return nil, errKeyLoad
			}
			values = append(values, value)
		}
		yBody, err := single(spki.key, tagInteger)
		if err != nil {
			return nil, errKeyLoad
		}
		y, err := parseBigUint(yBody)
		if err != nil {
			return nil, errKeyLoad
		}
		return &publicKey{kind: "DSA", dsa: &dsaKey{p: values[0], q: values[1], g: values[2], y: y}}, nil
	}
	if raw, ok := rawKeys[spki.algorithm]; ok && len(spki.key) == raw.size {
		return &publicKey{kind: raw.kind, raw: spki.key}, nil
	}
	return nil, errKeyLoad
}
