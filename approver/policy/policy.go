// Package policy decides which kubelet serving-certificate requests are genuine, as the
// program's Python policy (components/approval/csr_policy.py) does: the same rules, checked
// in the same order, named the same, with messages that read the same.
//
// It is a second implementation, proven equal to the first by tests/test_approver_policy.py,
// which runs both on one corpus of requests. Where Go's crypto/x509 reads a request otherwise
// than Python's cryptography (duplicate extensions, SAN entries it drops, curves, key sizes,
// SHA-1), this package reads the request itself, as cryptography does.
package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Action is what to do with a request.
type Action string

const (
	Approve Action = "approve"
	Deny    Action = "deny"
	Ignore  Action = "ignore"
)

const (
	SigningSigner  = "kubernetes.io/kubelet-serving"
	ApprovedReason = "KubeletBootstrapApproved"
	DeniedReason   = "KubeletBootstrapDenied"
	// DefaultMaxExpirationSeconds is a year, kube-controller-manager's default
	// --cluster-signing-duration.
	DefaultMaxExpirationSeconds int64 = 365 * 24 * 3600

	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
	minRSABits     = 2048
)

// Verdict is what to do with one request, and why, in words an operator can act on. Node is
// "" where the request is not one of a managed node's.
type Verdict struct {
	Action  Action
	Node    string
	Rule    string
	Message string
}

// NodeIdentity is what the stack knows of a node: the only names its serving certificate may
// carry.
type NodeIdentity struct {
	Name     string
	IPs      map[string]bool
	DNSNames map[string]bool
}

// NewNodeIdentity is NodeIdentity.of: addresses as Python's str(ipaddress.ip_address(ip))
// writes them, DNS names (the node's name among them) lower-cased without a trailing dot.
func NewNodeIdentity(name string, ips, dnsNames []string) (NodeIdentity, error) {
	identity := NodeIdentity{Name: name, IPs: map[string]bool{}, DNSNames: map[string]bool{dnsName(name): true}}
	for _, ip := range ips {
		address, err := netip.ParseAddr(ip)
		if err != nil {
			return NodeIdentity{}, fmt.Errorf("%s does not appear to be an IPv4 or IPv6 address", pyRepr(ip))
		}
		identity.IPs[address.String()] = true
	}
	for _, dns := range dnsNames {
		identity.DNSNames[dnsName(dns)] = true
	}
	return identity, nil
}

// refusal is the Python policy's _RefusalError: the rule, and the offending value in words.
type refusal struct {
	rule, message string
}

func refuse(rule, message string) *refusal { return &refusal{rule, message} }

// Evaluate is the verdict on csr (as the API returns it, decoded from JSON) for the nodes of
// inventory.
func Evaluate(csr map[string]any, inventory map[string]NodeIdentity, maxExpirationSeconds int64) Verdict {
	spec := object(csr["spec"])
	name := "<unnamed>"
	if value, ok := object(csr["metadata"])["name"]; ok {
		name = pyStr(value)
	}
	if signer, _ := spec["signerName"].(string); signer != SigningSigner {
		return Verdict{Ignore, "", "signer", name + ": signer is not " + SigningSigner}
	}
	if decided(csr) {
		return Verdict{Ignore, "", "decided", name + ": already approved or denied"}
	}
	node, managed := managedNode(spec, inventory)
	if !managed {
		return Verdict{Ignore, "", "unmanaged", name + ": not a node of this stack"}
	}
	if problem := check(spec, inventory[node], maxExpirationSeconds); problem != nil {
		return Verdict{Deny, node, problem.rule, name + " for " + node + ": " + problem.message}
	}
	return Verdict{Approve, node, "genuine", name + ": genuine serving request of " + node}
}

// object is value as a JSON object; anything else reads as an empty one, as `x or {}` does.
func object(value any) map[string]any {
	m, _ := value.(map[string]any)
	return m
}

func decided(csr map[string]any) bool {
	status := object(csr["status"])
	conditions, _ := status["conditions"].([]any)
	for _, condition := range conditions {
		switch object(condition)["type"] {
		case "Approved", "Denied", "Failed":
			return true
		}
	}
	return pyTruthy(status["certificate"])
}

// managedNode is the managed node a request is from, or claims to be for (its CN).
func managedNode(spec map[string]any, inventory map[string]NodeIdentity) (string, bool) {
	username := ""
	if value, ok := spec["username"]; ok {
		username = pyStr(value)
	}
	if node, ok := strings.CutPrefix(username, nodeUserPrefix); ok {
		if _, known := inventory[node]; known {
			return node, true
		}
	}
	request, _, problem := parseRequest(spec["request"])
	if problem != nil {
		return "", false
	}
	subject, err := decodeName(request.subject)
	if err != nil {
		return "", false // cryptography raises reading the subject
	}
	if node, ok := strings.CutPrefix(commonName(subject), nodeUserPrefix); ok {
		if _, known := inventory[node]; known {
			return node, true
		}
	}
	return "", false
}

func commonName(subject [][]decodedAttribute) string {
	var names []decodedAttribute
	for _, rdn := range subject {
		for _, a := range rdn {
			if a.oid == oidCommonName {
				names = append(names, a)
			}
		}
	}
	if len(names) != 1 {
		return ""
	}
	return names[0].text
}

func check(spec map[string]any, node NodeIdentity, maxExpirationSeconds int64) *refusal {
	expectedUser := nodeUserPrefix + node.Name
	if username, ok := spec["username"].(string); !ok || username != expectedUser {
		return refuse("requestor", fmt.Sprintf("requested by %s, not by the node itself (%s)",
			pyReprValue(spec["username"]), pyRepr(expectedUser)))
	}
	groups := pyList(spec["groups"])
	inGroup := false
	for _, group := range groups {
		inGroup = inGroup || group == nodesGroup
	}
	if !inGroup {
		return refuse("groups", fmt.Sprintf("requestor groups %s do not include %s", pyReprValue(groups), pyRepr(nodesGroup)))
	}
	request, extensions, problem := parseRequest(spec["request"])
	if problem != nil {
		return problem
	}
	key, err := loadPublicKey(request.spki)
	if err != nil {
		// cryptography raises here, in is_signature_valid, which the Python policy does not
		// catch; a key it cannot load is refused by the key rule.
		return refuse("key", "the request's public key cannot be loaded")
	}
	verified := verify(request, key)
	if !verified.valid {
		return refuse("signature", "the request's signature does not verify with its own key")
	}
	// Python refuses SHA-1 and MD5 here; an MD5 signature never verifies (nor in Python).
	if verified.hash != nil && verified.hash.name == "sha1" {
		return refuse("signature", "the request is signed with sha1, a broken hash")
	}
	subject, err := decodeName(request.subject)
	if err != nil {
		return refuse("subject", "its subject cannot be read")
	}
	if problem := checkSubject(subject, expectedUser); problem != nil {
		return problem
	}
	if problem := checkExtensions(extensions); problem != nil {
		return problem
	}
	if problem := checkNames(extensions, node); problem != nil {
		return problem
	}
	keyKind, problem := checkKey(key)
	if problem != nil {
		return problem
	}
	if problem := checkUsages(spec["usages"], keyKind); problem != nil {
		return problem
	}
	if expiration, ok := spec["expirationSeconds"]; ok && expiration != nil {
		above, readable := exceeds(expiration, maxExpirationSeconds)
		if !readable {
			return refuse("expiration", fmt.Sprintf("expirationSeconds %s is not a number", pyStr(expiration)))
		}
		if above {
			return refuse("expiration", fmt.Sprintf("expirationSeconds %s is above the policy's %d", pyStr(expiration), maxExpirationSeconds))
		}
	}
	return nil
}

// pyList is list(value or []) for a JSON value: an object gives its keys, a string its
// characters.
func pyList(value any) []any {
	switch v := value.(type) {
	case []any:
		return v
	case map[string]any:
		keys := make([]any, 0, len(v))
		for _, key := range sortedKeys(v) {
			keys = append(keys, key)
		}
		return keys
	case string:
		chars := make([]any, 0, len(v))
		for _, r := range v {
			chars = append(chars, string(r))
		}
		return chars
	}
	return []any{}
}

// checkSubject: exactly O=system:nodes and CN=system:node:<name>, in any order.
func checkSubject(subject [][]decodedAttribute, expectedUser string) *refusal {
	var got []decodedAttribute
	for _, rdn := range subject {
		got = append(got, rdn...)
	}
	want := []decodedAttribute{{oid: oidOrganization, text: nodesGroup}, {oid: oidCommonName, text: expectedUser}}
	matches := len(got) == len(want)
	if matches {
		matches = got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]
	}
	if !matches {
		return refuse("subject", fmt.Sprintf("subject %s is not exactly 'CN=%s,O=%s'",
			pyRepr(rfc4514(subject)), expectedUser, nodesGroup))
	}
	return nil
}

func checkExtensions(extensions []extension) *refusal {
	for _, e := range extensions {
		if e.id != oidSubjectAltName && e.id != oidBasicConstraints {
			return refuse("extension", "unexpected extension "+e.id.String())
		}
		if e.ca {
			return refuse("ca", "the request asks for a CA certificate (CA:TRUE)")
		}
	}
	return nil
}

func checkNames(extensions []extension, node NodeIdentity) *refusal {
	var sans []generalName
	found := false
	for _, e := range extensions {
		if e.id == oidSubjectAltName {
			sans, found = e.names, true
			break
		}
	}
	if !found {
		return refuse("san", "it names no DNS name or IP address")
	}
	for _, name := range sans {
		switch name.kind {
		case "DNSName":
			dns := dnsName(name.text)
			if strings.Contains(dns, "*") {
				return refuse("san-wildcard", "wildcard DNS name "+pyRepr(name.text))
			}
			if !node.DNSNames[dns] {
				return refuse("san-dns", fmt.Sprintf("DNS name %s is not a name of %s in the stack (allowed: %s)",
					pyRepr(name.text), node.Name, pyReprValue(sortedKeys(node.DNSNames))))
			}
		case "IPAddress":
			if !node.IPs[name.text] {
				return refuse("san-ip", fmt.Sprintf("IP address %s is not an address of %s in the stack (allowed: %s)",
					name.text, node.Name, pyReprValue(sortedKeys(node.IPs))))
			}
		default:
			return refuse("san-type", name.kind+" "+name.repr+" is not allowed; only DNS names and IP addresses")
		}
	}
	if len(sans) == 0 {
		return refuse("san", "it names no DNS name or IP address")
	}
	return nil
}

func sortedKeys[V any](set map[string]V) []string {
	keys := make([]string, 0, len(set))
	for key := range set {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// checkKey: ECDSA on P-256 or P-384, or RSA of 2048 bits or more; the kind of key it is.
func checkKey(key *publicKey) (string, *refusal) {
	switch key.kind {
	case "EllipticCurve":
		if key.curve.name == "secp256r1" || key.curve.name == "secp384r1" {
			return "ecdsa", nil
		}
		return "", refuse("key", "ECDSA curve "+key.curve.name+" is not P-256 or P-384")
	case "RSA":
		if key.n.BitLen() >= minRSABits {
			return "rsa", nil
		}
		return "", refuse("key", fmt.Sprintf("RSA key of %d bits; at least %d", key.n.BitLen(), minRSABits))
	}
	return "", refuse("key", key.kind+" keys are not allowed: ECDSA P-256, or RSA of 2048+ bits")
}

var (
	serving                 = []string{"digital signature", "server auth"}
	servingWithEncipherment = []string{"digital signature", "key encipherment", "server auth"}
)

// checkUsages: the kubelet's usages, `key encipherment` being allowed for any key (before
// 1.27 the kubelet added it for every key), each once.
func checkUsages(value any, keyKind string) *refusal {
	usages := pyList(value)
	set := map[any]bool{}
	for _, usage := range usages {
		if key, hashable := usageKey(usage); hashable {
			set[key] = true
		}
	}
	equal := func(want []string) bool {
		if len(set) != len(want) {
			return false
		}
		for _, w := range want {
			if !set[w] {
				return false
			}
		}
		return true
	}
	if !(equal(serving) || equal(servingWithEncipherment)) || len(set) != len(usages) {
		sorted := append([]any(nil), usages...)
		sort.SliceStable(sorted, func(i, j int) bool { return pyStr(sorted[i]) < pyStr(sorted[j]) })
		return refuse("usages", fmt.Sprintf("usages %s are not %s (plus 'key encipherment' for %s keys of older kubelets)",
			pyReprValue(sorted), pyReprValue(serving), strings.ToUpper(keyKind)))
	}
	return nil
}

// usageKey is the element as a set holds it: strings by value, numbers by value.
func usageKey(usage any) (any, bool) {
	switch v := usage.(type) {
	case string, bool, nil:
		return v, true
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return nil, false
}

// exceeds is int(expiration) > limit, for an int, a float (truncated) or a string holding an
// integer; readable is false where int() raises.
func exceeds(expiration any, limit int64) (above, readable bool) {
	var value *big.Int
	switch v := expiration.(type) {
	case bool:
		value = big.NewInt(0)
		if v {
			value.SetInt64(1)
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false, false
		}
		value, _ = big.NewFloat(math.Trunc(v)).Int(nil)
	case json.Number:
		if i, ok := new(big.Int).SetString(string(v), 10); ok {
			value = i
		} else if f, err := strconv.ParseFloat(string(v), 64); err == nil && !math.IsInf(f, 0) {
			value, _ = big.NewFloat(math.Trunc(f)).Int(nil)
		}
	case string:
		value = pyInt(v)
	}
	if value == nil {
		return false, false
	}
	return value.Cmp(big.NewInt(limit)) > 0, true
}

// pyInt is int(text) for base-10 text: surrounding whitespace, a sign, and single
// underscores between digits.
func pyInt(text string) *big.Int {
	text = strings.TrimFunc(text, unicode.IsSpace)
	digits := strings.TrimLeft(text, "+-")
	if len(text)-len(digits) > 1 || digits == "" || digits[0] == '_' || digits[len(digits)-1] == '_' || strings.Contains(digits, "__") {
		return nil
	}
	value, ok := new(big.Int).SetString(strings.ReplaceAll(text, "_", ""), 10)
	if !ok {
		return nil
	}
	return value
}

// dnsName is _dns: no trailing dots, lower case.
func dnsName(name string) string {
	return strings.ToLower(strings.TrimRight(name, "."))
}
