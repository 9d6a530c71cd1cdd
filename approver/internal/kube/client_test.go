package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const token = "approver-token-value"

// apiServer answers as the API server does for the calls the approver makes.
func apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","code":401,"message":"Unauthorized"}`)
			return
		}
		switch {
		case r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			var review struct {
				Spec struct {
					ResourceAttributes map[string]string `json:"resourceAttributes"`
				} `json:"spec"`
			}
			_ = json.NewDecoder(r.Body).Decode(&review)
			allowed := review.Spec.ResourceAttributes["name"] == "kubernetes.io/kubelet-serving"
			fmt.Fprintf(w, `{"status":{"allowed":%t,"reason":"by the test"}}`, allowed)
		case r.URL.Query().Get("watch") == "true":
			fmt.Fprint(w, `{"type":"ADDED","object":{"metadata":{"name":"a"}}}`+"\n")
			fmt.Fprint(w, `{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}`+"\n")
			fmt.Fprint(w, `{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}`+"\n")
		case r.Method == http.MethodGet && r.URL.Path == csrPath:
			fmt.Fprint(w, `{"metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"}}]}`)
		case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/approval"):
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			if body["kind"] != "CertificateSigningRequest" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"kind":"Status","code":409,"message":"the object has been modified"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(server.Close)
	return server
}

func writeKubeconfig(t *testing.T, server *httptest.Server, user string) string {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})
	config := fmt.Sprintf(`{"clusters":[{"name":"c","cluster":{"server":%q,"certificate-authority-data":%q}}],
		"users":[{"name":"u","user":%s}],
		"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],"current-context":"x"}`,
		server.URL, base64.StdEncoding.EncodeToString(ca), user)
	path := filepath.Join(t.TempDir(), "kubeconfig.json")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCallsAsTheAPIServerAnswers(t *testing.T) {
	server := apiServer(t)
	client, err := FromKubeconfig(writeKubeconfig(t, server, fmt.Sprintf(`{"token":%q}`, token)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	items, version, err := client.List(ctx)
	if err != nil || len(items) != 1 || version != "7" {
		t.Fatalf("List: %v %v %q", items, err, version)
	}
	if err := client.Decide(ctx, CSR{"metadata": map[string]any{"name": "a"}}); !IsConflict(err) {
		t.Errorf("Decide: %v, want a conflict", err)
	}
	for name, want := range map[string]bool{"kubernetes.io/kubelet-serving": true, "kubernetes.io/kube-apiserver-client": false} {
		allowed, reason, err := client.CanI(ctx, "approve", "certificates.k8s.io", "signers", "", name)
		if err != nil || allowed != want || reason != "by the test" {
			t.Errorf("CanI approve %s: %v %q %v", name, allowed, reason, err)
		}
	}
	var seen []string
	err = client.Watch(ctx, version, time.Minute, func(e Event) { seen = append(seen, e.Type) })
	if !IsGone(err) || strings.Join(seen, ",") != "ADDED,BOOKMARK" {
		t.Errorf("Watch: %v after %v, want 410 after ADDED,BOOKMARK", err, seen)
	}
}

func TestWrongTokenIsAStatusErrorWithoutTheToken(t *testing.T) {
	server := apiServer(t)
	client, err := FromKubeconfig(writeKubeconfig(t, server, `{"token":"wrong-token"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = client.List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("List with a wrong token: %v", err)
	}
}

func TestKubeconfigProblemsNameTheFieldNotTheCredential(t *testing.T) {
	server := apiServer(t)
	cases := map[string]string{
		`{}`: "no token and no client certificate",
		`{"client-certificate-data":"bm90IGEgY2VydA==","client-key-data":"c2VjcmV0LWtleQ=="}`: "do not load",
	}
	for user, want := range cases {
		_, err := FromKubeconfig(writeKubeconfig(t, server, user))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret-key") {
			t.Errorf("user %s: %v, want %q", user, err, want)
		}
	}
}
