package policy

// Algorithm identifiers as cryptography's AlgorithmIdentifier loads them: the parameters a
// known algorithm may carry are checked when the request is loaded (a NULL after
// ecdsa-with-SHA256 fails the load), those of other algorithms are not looked at.

type paramsRule int

const (
	anyParams    paramsRule = iota // an algorithm cryptography does not know
	nullOrAbsent                   // NULL or nothing
	absent                         // nothing
	pssParams                      // nothing, or RSASSA-PSS-params
	ecParams                       // a named curve (OID), an implicit curve (NULL) or a specified one
	dssParams                      // SEQUENCE { p, q, g }
	unreadable                     // parameters this package does not read (PBES2, DH...): refused
)

var algorithmParams = map[oid]paramsRule{}

func init() {
	for rule, oids := range map[paramsRule][]string{
		nullOrAbsent: {
			"1.3.14.3.2.26", "2.16.840.1.101.3.4.2.4", "2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.2",
			"2.16.840.1.101.3.4.2.3", "2.16.840.1.101.3.4.2.7", "2.16.840.1.101.3.4.2.8",
			"2.16.840.1.101.3.4.2.9", "2.16.840.1.101.3.4.2.10", // SHA-1, SHA-2 and SHA-3
			"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.5", "1.3.14.3.2.29", "1.2.840.113549.1.1.14",
			"1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13",
			"2.16.840.1.101.3.4.3.13", "2.16.840.1.101.3.4.3.14", "2.16.840.1.101.3.4.3.15",
			"2.16.840.1.101.3.4.3.16", // RSA and its PKCS#1 signatures
			"1.2.840.113549.2.7", "1.2.840.113549.2.8", "1.2.840.113549.2.9", "1.2.840.113549.2.10",
			"1.2.840.113549.2.11", // HMAC
		},
		absent: {
			"1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4",
			"2.16.840.1.101.3.4.3.9", "2.16.840.1.101.3.4.3.10", "2.16.840.1.101.3.4.3.11",
			"2.16.840.1.101.3.4.3.12",                                  // ECDSA
			"1.3.101.110", "1.3.101.111", "1.3.101.112", "1.3.101.113", // X25519, X448, Ed25519, Ed448
			"2.16.840.1.101.3.4.3.1", "2.16.840.1.101.3.4.3.2", "2.16.840.1.101.3.4.3.3",
			"2.16.840.1.101.3.4.3.4",                                                        // DSA
			"2.16.840.1.101.3.4.3.17", "2.16.840.1.101.3.4.3.18", "2.16.840.1.101.3.4.3.19", // ML-DSA
		},
		pssParams: {"1.2.840.113549.1.1.10"},
		ecParams:  {"1.2.840.10045.2.1"},
		dssParams: {"1.2.840.10040.4.1"},
		unreadable: {
			"1.2.840.10046.2.1", "1.2.840.113549.1.3.1", "1.2.840.113549.1.5.13", "1.2.840.113549.1.5.12",
			"2.16.840.1.101.3.4.1.2", "2.16.840.1.101.3.4.1.22", "2.16.840.1.101.3.4.1.42",
			"1.2.840.113549.3.2", "1.2.840.113549.3.7", "1.2.840.113549.1.12.1.3", "1.2.840.113549.1.12.1.6",
		},
	} {
		for _, dotted := range oids {
			algorithmParams[mustOID(dotted)] = rule
		}
	}
}

// parseAlgorithmIdentifier reads the contents of an AlgorithmIdentifier.
func parseAlgorithmIdentifier(contents []byte) (id oid, params element, present bool, err error) {
	r := reader{contents}
	if id, err = r.readOID(); err != nil {
		return "", element{}, false, err
	}
	if !r.empty() {
		if params, err = r.next(); err != nil {
			return "", element{}, false, err
		}
		present = true
	}
	if err = r.end(); err != nil {
		return "", element{}, false, err
	}
	switch algorithmParams[id] {
	case nullOrAbsent:
		if present && !(params.is(tagNull) && len(params.body) == 0) {
			err = errKeyParams
		}
	case absent:
		if present {
			err = errKeyParams
		}
	case pssParams:
		if present {
			_, err = parsePSSParams(params)
		}
	case ecParams:
		err = checkECParams(params, present)
	case dssParams:
		err = checkDSSParams(params, present)
	case unreadable:
		err = errKeyParams
	}
	return id, params, present, err
}

// pssParameters are RSASSA-PSS-params with their defaults (RFC 4055).
type pssParameters struct {
	hash, mgf, mgfHash oid
	saltLength         int
}

// parsePSSParams reads RSASSA-PSS-params; DER forbids writing a default value out.
func parsePSSParams(params element) (pssParameters, error) {
	out := pssParameters{hash: oidSHA1, mgf: oidMGF1, mgfHash: oidSHA1, saltLength: 20}
	if !params.is(tagSequence) {
		return out, errKeyParams
	}
	r := reader{params.body}
	if body, ok, err := r.optional(tagConstructed | 0); err != nil {
		return out, err
	} else if ok {
		hash, err := explicitAlgorithm(body)
		if err != nil {
			return out, err
		}
		if hash.id == oidSHA1 && hash.isNull() {
			return out, errKeyParams // the default, sha1 with NULL, written out
		}
		out.hash = hash.id
	}
	if body, ok, err := r.optional(tagConstructed | 1); err != nil {
		return out, err
	} else if ok {
		inner, err := single(body, tagSequence)
		if err != nil {
			return out, err
		}
		m := reader{inner}
		if out.mgf, err = m.readOID(); err != nil {
			return out, err
		}
		hashContents, err := m.read(tagSequence)
		if err != nil {
			return out, err
		}
		if err := m.end(); err != nil {
			return out, err
		}
		hash, err := algorithmOf(hashContents)
		if err != nil {
			return out, err
		}
		if out.mgf == oidMGF1 && hash.id == oidSHA1 && hash.isNull() {
			return out, errKeyParams // the default, MGF1 with sha1, written out
		}
		out.mgfHash = hash.id
	}
	if body, ok, err := r.optional(tagConstructed | 2); err != nil {
		return out, err
	} else if ok {
		value, err := single(body, tagInteger)
		if err != nil {
			return out, err
		}
		salt, err := parseUint(value, 16)
		if err != nil || salt == 20 {
			return out, errKeyParams
		}
		out.saltLength = int(salt)
	}
	if body, ok, err := r.optional(tagConstructed | 3); err != nil {
		return out, err
	} else if ok {
		value, err := single(body, tagInteger)
		if err != nil {
			return out, err
		}
		if _, err := parseUint(value, 8); err != nil {
			return out, err
		}
	}
	return out, r.end()
}

// algorithm is a parsed AlgorithmIdentifier.
type algorithm struct {
	id      oid
	params  element
	present bool
}

func (a algorithm) isNull() bool { return a.present && a.params.is(tagNull) }

func algorithmOf(contents []byte) (algorithm, error) {
	id, params, present, err := parseAlgorithmIdentifier(contents)
	return algorithm{id, params, present}, err
}

// explicitAlgorithm reads an [n] EXPLICIT AlgorithmIdentifier's contents.
func explicitAlgorithm(body []byte) (algorithm, error) {
	contents, err := single(body, tagSequence)
	if err != nil {
		return algorithm{}, err
	}
	return algorithmOf(contents)
}

// checkECParams: EcParameters ::= CHOICE { namedCurve OID, implicitCurve NULL,
// specifiedCurve SpecifiedECDomain }.
func checkECParams(params element, present bool) error {
	switch {
	case !present:
		return errKeyParams
	case params.is(tagOID):
		_, err := parseOID(params.body)
		return err
	case params.is(tagNull):
		if len(params.body) != 0 {
			return errKeyParams
		}
		return nil
	case params.is(tagSequence):
		return checkSpecifiedCurve(params.body)
	}
	return errKeyParams
}

// checkSpecifiedCurve: SEQUENCE { version INTEGER, fieldID SEQUENCE { OID, ANY },
// curve SEQUENCE { a OCTET STRING, b OCTET STRING, seed BIT STRING OPTIONAL },
// base OCTET STRING, order INTEGER, cofactor INTEGER OPTIONAL }.
func checkSpecifiedCurve(contents []byte) error {
	r := reader{contents}
	version, err := r.read(tagInteger)
	if err != nil {
		return err
	}
	if _, err := parseUint(version, 8); err != nil {
		return err
	}
	field, err := r.read(tagSequence)
	if err != nil {
		return err
	}
	f := reader{field}
	if _, err := f.readOID(); err != nil {
		return err
	}
	if _, err := f.next(); err != nil {
		return err
	}
	if err := f.end(); err != nil {
		return err
	}
	shape, err := r.read(tagSequence)
	if err != nil {
		return err
	}
	c := reader{shape}
	for i := 0; i < 2; i++ {
		if _, err := c.read(tagOctetString); err != nil {
			return err
		}
	}
	if seed, ok, err := c.optional(tagBitString); err != nil {
		return err
	} else if ok {
		if _, err := parseBitString(seed); err != nil {
			return err
		}
	}
	if err := c.end(); err != nil {
		return err
	}
	if _, err := r.read(tagOctetString); err != nil {
		return err
	}
	order, err := r.read(tagInteger)
	if err != nil {
		return err
	}
	if _, err := parseBigUint(order); err != nil {
		return err
	}
	if cofactor, ok, err := r.optional(tagInteger); err != nil {
		return err
	} else if ok {
		if _, err := parseBigUint(cofactor); err != nil {
			return err
		}
	}
	return r.end()
}

// checkDSSParams: Dss-Parms ::= SEQUENCE { p INTEGER, q INTEGER, g INTEGER }.
func checkDSSParams(params element, present bool) error {
	if !present || !params.is(tagSequence) {
		return errKeyParams
	}
	r := reader{params.body}
	for i := 0; i < 3; i++ {
		body, err := r.read(tagInteger)
		if err != nil {
			return err
		}
		if _, err := parseBigUint(body); err != nil {
			return err
		}
	}
	return r.end()
}
