// Package kube is the approver's few calls to the API server: list, watch, read and approve
// CertificateSigningRequests, with the credential of a kubeconfig file.
//
// The approver is a static binary for masters that may reach no package registry, so it
// carries no client library: the kubeconfig is read as JSON (the program writes it so, and
// kubectl reads it too), and the calls are plain HTTPS.
package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const csrPath = "/apis/certificates.k8s.io/v1/certificatesigningrequests"

// Client calls one API server as one user.
type Client struct {
	server string
	token  string
	http   *http.Client
}

// StatusError is an answer of the API server other than success: its HTTP status and message.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message) }

// IsConflict reports whether err is the API server's 409: the object changed meanwhile.
func IsConflict(err error) bool {
	var status *StatusError
	return errors.As(err, &status) && status.Code == http.StatusConflict
}

// IsGone reports whether err is the API server's 410: a watch's resourceVersion is too old.
func IsGone(err error) bool {
	var status *StatusError
	return errors.As(err, &status) && status.Code == http.StatusGone
}

type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string `json:"token"`
			TokenFile             string `json:"tokenFile"`
			ClientCertificateData string `json:"client-certificate-data"`
			ClientKeyData         string `json:"client-key-data"`
		} `json:"user"`
	} `json:"users"`
}

// FromKubeconfig makes a client of the current context of the JSON kubeconfig at path.
// Errors name the file and the field, never a credential.
func FromKubeconfig(path string) (*Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var config kubeconfig
	if err := json.Unmarshal(raw, &config); err != nil {
		return nil, fmt.Errorf("%s is not a kubeconfig in JSON: %v", path, err)
	}
	clusterName, userName := "", ""
	for _, c := range config.Contexts {
		if c.Name == config.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	if clusterName == "" {
		return nil, fmt.Errorf("%s: current-context %q names no context", path, config.CurrentContext)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	server := ""
	for _, c := range config.Clusters {
		if c.Name != clusterName {
			continue
		}
		server = c.Cluster.Server
		pool, err := caPool(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority)
		if err != nil {
			return nil, fmt.Errorf("%s: cluster %q: %v", path, clusterName, err)
		}
		tlsConfig.RootCAs = pool
	}
	// The URL is named only redacted: a user:password in it stays out of logs and /healthz.
	if u, err := url.Parse(server); err != nil {
		return nil, fmt.Errorf("%s: cluster %q: server is not a URL", path, clusterName)
	} else if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s: cluster %q: server %q is not an https URL", path, clusterName, u.Redacted())
	}
	client := &Client{server: strings.TrimRight(server, "/")}
	found := false
	for _, u := range config.Users {
		if u.Name != userName {
			continue
		}
		found = true
		client.token = u.User.Token
		if u.User.TokenFile != "" {
			token, err := os.ReadFile(u.User.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("%s: user %q: tokenFile: %v", path, userName, err)
			}
			client.token = strings.TrimSpace(string(token))
		}
		if u.User.ClientCertificateData != "" {
			pair, err := keyPair(u.User.ClientCertificateData, u.User.ClientKeyData)
			if err != nil {
				return nil, fmt.Errorf("%s: user %q: %v", path, userName, err)
			}
			tlsConfig.Certificates = []tls.Certificate{pair}
		}
	}
	if !found || (client.token == "" && len(tlsConfig.Certificates) == 0) {
		return nil, fmt.Errorf("%s: user %q has no token and no client certificate", path, userName)
	}
	client.http = &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}}
	return client, nil
}

func caPool(data, file string) (*x509.CertPool, error) {
	var pem []byte
	var err error
	switch {
	case data != "":
		if pem, err = base64.StdEncoding.DecodeString(data); err != nil {
			return nil, fmt.Errorf("certificate-authority-data is not base64")
		}
	case file != "":
		if pem, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("certificate-authority: %v", err)
		}
	default:
		return nil, fmt.Errorf("no certificate-authority: the API server could not be verified")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the certificate authority holds no PEM certificate")
	}
	return pool, nil
}

func keyPair(certificateData, keyData string) (tls.Certificate, error) {
	certificate, err := base64.StdEncoding.DecodeString(certificateData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client-certificate-data is not base64")
	}
	key, err := base64.StdEncoding.DecodeString(keyData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client-key-data is not base64")
	}
	pair, err := tls.X509KeyPair(certificate, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate and key do not load: %v", err)
	}
	return pair, nil
}

// CSR is a CertificateSigningRequest as the API returns it in JSON.
type CSR = map[string]any

// List returns every CSR and the list's resourceVersion, to watch from.
func (c *Client) List(ctx context.Context) ([]CSR, string, error) {
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []CSR `json:"items"`
	}
	if err := c.call(ctx, http.MethodGet, csrPath, nil, &list); err != nil {
		return nil, "", err
	}
	return list.Items, list.Metadata.ResourceVersion, nil
}

// Get reads one CSR again, as after a conflict.
func (c *Client) Get(ctx context.Context, name string) (CSR, error) {
	var csr CSR
	err := c.call(ctx, http.MethodGet, csrPath+"/"+url.PathEscape(name), nil, &csr)
	return csr, err
}

// Decide writes csr, with its new condition appended, through the /approval subresource.
func (c *Client) Decide(ctx context.Context, csr CSR) error {
	name, _ := Field(csr, "metadata", "name").(string)
	csr["apiVersion"], csr["kind"] = "certificates.k8s.io/v1", "CertificateSigningRequest"
	body, err := json.Marshal(csr)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPut, csrPath+"/"+url.PathEscape(name)+"/approval", body, nil)
}

// Event is one change a watch reports.
type Event struct {
	Type   string `json:"type"`
	Object CSR    `json:"object"`
}

// Watch calls onEvent for each change after resourceVersion until the server ends the watch
// (after timeout), ctx ends, or an error. A watch the server ends with 410 returns an error
// for which IsGone is true: list again.
func (c *Client) Watch(ctx context.Context, resourceVersion string, timeout time.Duration, onEvent func(Event)) error {
	query := url.Values{
		"watch":               {"true"},
		"resourceVersion":     {resourceVersion},
		"allowWatchBookmarks": {"true"},
		"timeoutSeconds":      {fmt.Sprint(int(timeout.Seconds()))},
	}
	response, err := c.send(ctx, http.MethodGet, csrPath+"?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	decoder := json.NewDecoder(response.Body)
	for {
		var event Event
		if err := decoder.Decode(&event); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if event.Type == "ERROR" {
			code, _ := Field(event.Object, "code").(float64)
			message, _ := Field(event.Object, "message").(string)
			return &StatusError{Code: int(code), Message: message}
		}
		onEvent(event)
	}
}

func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	response, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, response.Body)
		return err
	}
	return json.NewDecoder(response.Body).Decode(out)
}

// send makes one request and turns an unsuccessful answer into a StatusError.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	request, err := http.NewRequestWithContext(ctx, method, c.server+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	request.Header.Set("Accept", "application/json")
	request.Header.Set("User-Agent", "kubelet-bootstrap-approver")
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		request.Header.Set("Authorization", "Bearer "+c.token)
	}
	response, err := c.http.Do(request)
	if err != nil {
		return nil, err
	}
	if response.StatusCode/100 == 2 {
		return response, nil
	}
	defer response.Body.Close()
	var status struct {
		Message string `json:"message"`
	}
	raw, _ := io.ReadAll(io.LimitReader(response.Body, 64<<10))
	if json.Unmarshal(raw, &status) != nil || status.Message == "" {
		status.Message = http.StatusText(response.StatusCode)
	}
	return nil, &StatusError{Code: response.StatusCode, Message: status.Message}
}

// Field is the value at keys in a JSON object, or nil where a key is missing.
func Field(object map[string]any, keys ...string) any {
	var value any = object
	for _, key := range keys {
		m, ok := value.(map[string]any)
		if !ok {
			return nil
		}
		value = m[key]
	}
	return value
}

// CanI asks the API server whether this client's user may `verb` the resource
// (group/resource/subresource, named `name` if not empty): a SelfSubjectAccessReview, which
// every authenticated user may make. Returns the answer and the authorizer's reason.
func (c *Client) CanI(ctx context.Context, verb, group, resource, subresource, name string) (bool, string, error) {
	review := map[string]any{
		"apiVersion": "authorization.k8s.io/v1",
		"kind":       "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{
			"verb": verb, "group": group, "resource": resource, "subresource": subresource, "name": name,
		}},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return false, "", err
	}
	var answer struct {
		Status struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		} `json:"status"`
	}
	path := "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
	if err := c.call(ctx, http.MethodPost, path, body, &answer); err != nil {
		return false, "", err
	}
	return answer.Status.Allowed, answer.Status.Reason, nil
}
