package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
)

// The parsing this package does itself, where crypto/x509 reads a request otherwise than
// Python's cryptography. tests/test_approver_policy.py proves the whole policy equal to the
// Python one on a shared corpus; these pin the Go-specific pieces on their own.

var inventory = map[string]NodeIdentity{}

func init() {
	for _, node := range []struct {
		name string
		ips  []string
	}{{"node-0", []string{"10.0.0.1", "2001:db8::1"}}, {"node-1", []string{"10.0.0.2"}}} {
		identity, err := NewNodeIdentity(node.name, node.ips, []string{"Node-0.Example.COM."})
		if err != nil {
			panic(err)
		}
		inventory[node.name] = identity
	}
}

var p256Key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

func nodeSubject(node string) pkix.Name {
	return pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}}
}

// createRequest is a DER request for node-0 signed by key, with the template's names.
func createRequest(t *testing.T, key crypto.Signer, template x509.CertificateRequest) []byte {
	t.Helper()
	if template.Subject.CommonName == "" {
		template.Subject = nodeSubject("node-0")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &template, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemOf(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// csrObject is the API object of a request posted by node-0 itself.
func csrObject(request string) map[string]any {
	return map[string]any{
		"metadata": map[string]any{"name": "csr-test"},
		"spec": map[string]any{
			"signerName": SigningSigner,
			"request":    base64.StdEncoding.EncodeToString([]byte(request)),
			"usages":     []any{"digital signature", "server auth"},
			"username":   "system:node:node-0",
			"groups":     []any{"system:nodes", "system:authenticated"},
		},
	}
}

// sanExtension is a subjectAltName extension of raw GeneralName encodings, in their order.
func sanExtension(t *testing.T, names ...asn1.RawValue) pkix.Extension {
	t.Helper()
	value, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: value}
}

func dnsEntry(name string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(name)}
}

func mustMarshal(t *testing.T, value any) []byte {
	t.Helper()
	der, err := asn1.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestPythonStrictBase64(t *testing.T) {
	// CPython 3.11's base64.b64decode(validate=True), as probed.
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"QQ==", "A", true},
		{"QR==", "A", true}, // non-zero trailing bits pass
		{"QUFB=", "AAA", true},
		{"QUFB===", "AAA", true}, // '=' after a complete quantum passes
		{"QUF=", "AA", true},
		{"", "", true},
		{"QQ=", "", false},
		{"QQ", "", false},
		{"=QQ=", "", false},
		{"QQ==QQ==", "", false},
		{"QUFB=QQ==", "", false},
		{"QUFB\n", "", false}, // Go's decoder would skip the newline
		{"QU FB", "", false},
		{"QUFBQ", "", false},
	} {
		got, ok := b64decodeStrict(tc.in)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("b64decodeStrict(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRequestTextIsReadAsCryptographyReadsIt(t *testing.T) {
	der := createRequest(t, p256Key, x509.CertificateRequest{DNSNames: []string{"node-0"}})
	block := pemOf(der)
	for _, tc := range []struct {
		name, text, rule, fragment string
	}{
		{"plain", block, "genuine", ""},
		{"text around and CRLF", "junk " + strings.ReplaceAll(block, "\n", "\r\n") + " trailing", "genuine", ""},
		{"a header", strings.Replace(block, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1), "genuine", ""},
		{"two blocks", block + block, "pem", "(found: CERTIFICATE REQUEST, CERTIFICATE REQUEST)"},
		{"a CERTIFICATE block", strings.ReplaceAll(block, "CERTIFICATE REQUEST", "CERTIFICATE"), "pem", "(found: CERTIFICATE)"},
		{"NEW CERTIFICATE REQUEST", strings.ReplaceAll(block, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"), "pem", "(found: NEW CERTIFICATE REQUEST)"},
		{"a lower-case block after", block + "-----BEGIN x-----\nQQ==\n-----END x-----\n", "genuine", ""},
		{"a malformed lower-case block after", block + "-----BEGIN x-----\nQ\n-----END x-----\n", "pem", "not a well-formed"},
		{"six dashes", "-" + block, "pem", "not a well-formed"}, // the regex finds it, the pem crate does not
		{"a line that is no header", strings.Replace(block, "-----\n", "-----\nFoo\n\n", 1), "pem", "not a well-formed"},
		{"end label differs", strings.Replace(block, "END CERTIFICATE REQUEST", "END CERTIFICATE", 1), "pem", "not a well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verdict := Evaluate(csrObject(tc.text), inventory, DefaultMaxExpirationSeconds)
			if verdict.Rule != tc.rule || !strings.Contains(verdict.Message, tc.fragment) {
				t.Errorf("got %s: %s; want %s with %q", verdict.Rule, verdict.Message, tc.rule, tc.fragment)
			}
		})
	}
	notBase64 := csrObject(block)
	spec := notBase64["spec"].(map[string]any)
	spec["request"] = spec["request"].(string)[:40] + "\n" + spec["request"].(string)[40:]
	if verdict := Evaluate(notBase64, inventory, DefaultMaxExpirationSeconds); verdict.Rule != "pem" || !strings.Contains(verdict.Message, "not base64") {
		t.Errorf("a newline in spec.request: %s: %s", verdict.Rule, verdict.Message)
	}
}

func TestExtensionsAndNamesAreReadFromTheRequestItself(t *testing.T) {
	otherName := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(
		mustMarshal(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}),
		mustMarshal(t, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: mustMarshal(t, "admin")})...)}
	directory := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: mustMarshal(t, pkix.Name{CommonName: "admin"}.ToRDNSequence())}
	registered := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: mustMarshal(t, asn1.ObjectIdentifier{1, 2, 3, 4})[2:]}
	mapped := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: net.ParseIP("10.0.0.1").To16()}
	for _, tc := range []struct {
		name     string
		template x509.CertificateRequest
		rule     string
		fragment string
	}{
		{"DNS, IPv6 and a known extra name", x509.CertificateRequest{
			DNSNames: []string{"NODE-0.example.com."}, IPAddresses: []net.IP{net.ParseIP("2001:db8::1")}}, "genuine", ""},
		{"otherName, which crypto/x509 drops", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t, dnsEntry("node-0"), otherName)}}, "san-type", "OtherName b'\\x13\\x05admin'"},
		{"directoryName", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t, directory)}}, "san-type", "DirectoryName <Name(CN=admin)>"},
		{"registeredID", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t, registered)}}, "san-type", "RegisteredID <ObjectIdentifier(oid=1.2.3.4"},
		{"the SAN's own order: a foreign name before an email", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t, dnsEntry("evil"), asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte("a@b")})}},
			"san-dns", "DNS name 'evil'"},
		{"IPv4-mapped IPv6 is not the IPv4 address", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t, mapped)}}, "san-ip", "IP address ::ffff:10.0.0.1 is not"},
		{"an empty SAN", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t)}}, "san", "names no DNS name"},
		{"two SAN extensions, which crypto/x509 accepts", x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{sanExtension(t, dnsEntry("node-0")), sanExtension(t, dnsEntry("kubernetes"))}},
			"extension", "duplicate extension 2.5.29.17"},
		{"CA:TRUE", x509.CertificateRequest{DNSNames: []string{"node-0"}, ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: mustMarshal(t, struct{ CA bool }{true})}}},
			"ca", "CA:TRUE"},
		{"a refused extension", x509.CertificateRequest{DNSNames: []string{"node-0"}, ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}}}, "extension", "unexpected extension 1.2.3.4"},
		{"a subject with O twice", x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:node-0",
			Organization: []string{"system:nodes", "system:masters"}}, DNSNames: []string{"node-0"}},
			"subject", "'CN=system:node:node-0,O=system:nodes+O=system:masters' is not exactly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := createRequest(t, p256Key, tc.template)
			verdict := Evaluate(csrObject(pemOf(der)), inventory, DefaultMaxExpirationSeconds)
			if verdict.Rule != tc.rule || !strings.Contains(verdict.Message, tc.fragment) {
				t.Errorf("got %s: %s; want %s with %q", verdict.Rule, verdict.Message, tc.rule, tc.fragment)
			}
		})
	}
}

// pssSHA1 is a request signed with RSASSA-PSS over SHA-1 with the default parameters, which
// cryptography verifies and crypto/x509 cannot express.
func pssSHA1(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	parsed, err := x509.ParseCertificateRequest(createRequest(t, key, x509.CertificateRequest{DNSNames: []string{"node-0"}}))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha1.Sum(parsed.RawTBSCertificateRequest)
	signature, err := rsa.SignPSS(rand.Reader, key, crypto.SHA1, digest[:], &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	return mustMarshal(t, struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{
		asn1.RawValue{FullBytes: parsed.RawTBSCertificateRequest},
		pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}, Parameters: asn1.RawValue{FullBytes: []byte{0x30, 0}}},
		asn1.BitString{Bytes: signature, BitLength: 8 * len(signature)},
	})
}

func TestKeysAndSignatures(t *testing.T) {
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	names := x509.CertificateRequest{DNSNames: []string{"node-0"}}
	tampered := createRequest(t, p256Key, names)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name     string
		der      []byte
		usages   []any
		rule     string
		fragment string
	}{
		{"RSA 2048", createRequest(t, rsa2048, names), []any{"digital signature", "key encipherment", "server auth"}, "genuine", ""},
		{"RSA 1024", createRequest(t, rsa1024, names), nil, "key", "RSA key of 1024 bits; at least 2048"},
		{"P-521", createRequest(t, p521, names), nil, "key", "ECDSA curve secp521r1 is not P-256 or P-384"},
		{"Ed25519", createRequest(t, edKey, names), nil, "key", "Ed25519 keys are not allowed"},
		{"a tampered signature", tampered, nil, "signature", "does not verify"},
		{"RSA-PSS over SHA-1", pssSHA1(t, rsa2048), nil, "signature", "signed with sha1, a broken hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr := csrObject(pemOf(tc.der))
			if tc.usages != nil {
				csr["spec"].(map[string]any)["usages"] = tc.usages
			}
			verdict := Evaluate(csr, inventory, DefaultMaxExpirationSeconds)
			if verdict.Rule != tc.rule || !strings.Contains(verdict.Message, tc.fragment) {
				t.Errorf("got %s: %s; want %s with %q", verdict.Rule, verdict.Message, tc.rule, tc.fragment)
			}
		})
	}
}

func TestCurvesAndTheTextbookVerifier(t *testing.T) {
	for id, c := range curves {
		if !c.onCurve(c.gx, c.gy) {
			t.Errorf("%s (%s): the generator is not on the curve", c.name, id)
		}
		if x, _ := c.multiply(c.gx, c.gy, c.n); x != nil {
			t.Errorf("%s: n·G is not the point at infinity", c.name)
		}
	}
	// The verifier of the curves Go lacks, run on P-256 against crypto/ecdsa's signatures.
	p256 := *curves[mustOID("1.2.840.10045.3.1.7")]
	p256.native = nil
	key := &publicKey{kind: "EllipticCurve", curve: &p256, x: p256Key.X, y: p256Key.Y}
	digest := sha1.Sum([]byte("message"))
	signature, err := ecdsa.SignASN1(rand.Reader, p256Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if !verifyECDSA(key, digest[:], signature) {
		t.Error("a crypto/ecdsa signature does not verify")
	}
	digest[0] ^= 1
	if verifyECDSA(key, digest[:], signature) {
		t.Error("a signature of another digest verifies")
	}
	compressed := elliptic.MarshalCompressed(elliptic.P256(), p256Key.X, p256Key.Y)
	if x, y, err := p256.decodePoint(compressed); err != nil || x.Cmp(p256Key.X) != 0 || y.Cmp(p256Key.Y) != 0 {
		t.Errorf("a compressed point decodes to (%v, %v), %v", x, y, err)
	}
	if _, _, err := p256.decodePoint([]byte{4}); err == nil {
		t.Error("a truncated point decodes")
	}
}

func TestNodeIdentityNormalisesAsPython(t *testing.T) {
	identity, err := NewNodeIdentity("Node-0.", []string{"2001:DB8:0::1", "::ffff:10.0.0.1", "10.0.0.1"}, []string{"Node-0.Example.com."})
	if err != nil {
		t.Fatal(err)
	}
	wantIPs := []string{"10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1"}
	if got := sortedKeys(identity.IPs); strings.Join(got, " ") != strings.Join(wantIPs, " ") {
		t.Errorf("IPs %v, want %v", got, wantIPs)
	}
	if got := sortedKeys(identity.DNSNames); strings.Join(got, " ") != "node-0 node-0.example.com" {
		t.Errorf("DNS names %v", got)
	}
	if _, err := NewNodeIdentity("node-0", []string{"10.0.0.300"}, nil); err == nil || !strings.Contains(err.Error(), "'10.0.0.300'") {
		t.Errorf("a bad address gives %v", err)
	}
}

func TestOIDsBeyondEncodingASN1(t *testing.T) {
	// 2.25.<a 128-bit UUID>: rust-asn1 holds it, encoding/asn1 cannot.
	uuid := "2.25.329800735698586629295641978511506172918"
	arc, _ := new(big.Int).SetString("329800735698586629295641978511506172918", 10)
	if arc.BitLen() > 128 {
		t.Fatal("the test's arc is too large")
	}
	id := mustOID(uuid)
	if _, err := parseOID([]byte(id)); err != nil || id.String() != uuid {
		t.Errorf("%s reads back as %s, %v", uuid, id, err)
	}
	if _, err := parseOID([]byte{0x2a, 0x80, 0x01}); err == nil {
		t.Error("a non-minimal arc parses")
	}
}
