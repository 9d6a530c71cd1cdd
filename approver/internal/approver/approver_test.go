package approver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kubelet-bootstrap/approver/internal/kube"
)

// fakeAPI keeps CSRs in memory and records each decision written.
type fakeAPI struct {
	mu        sync.Mutex
	csrs      map[string]kube.CSR
	decisions map[string]string // CSR -> condition type written
	conflicts int               // how many Decide calls answer 409 first
	listErrs  int               // how many List calls fail first
	lists     int
	events    chan kube.Event
	forbidden map[string]bool // verbs the identity may not use
	refusal   *kube.StatusError
}

func newFakeAPI(csrs ...kube.CSR) *fakeAPI {
	api := &fakeAPI{csrs: map[string]kube.CSR{}, decisions: map[string]string{}, events: make(chan kube.Event, 8)}
	for _, csr := range csrs {
		api.csrs[kube.Field(csr, "metadata", "name").(string)] = csr
	}
	return api
}

func (f *fakeAPI) List(context.Context) ([]kube.CSR, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.listErrs > 0 {
		f.listErrs--
		return nil, "", &kube.StatusError{Code: 503, Message: "the API server is restarting"}
	}
	var items []kube.CSR
	for _, csr := range f.csrs {
		items = append(items, csr)
	}
	return items, "1", nil
}

func (f *fakeAPI) Get(_ context.Context, name string) (kube.CSR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.csrs[name], nil
}

func (f *fakeAPI) CanI(_ context.Context, verb, _, _, _, _ string) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.forbidden[verb], "", nil
}

func (f *fakeAPI) Decide(_ context.Context, csr kube.CSR) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := kube.Field(csr, "metadata", "name").(string)
	if f.refusal != nil {
		return f.refusal
	}
	if f.conflicts > 0 {
		f.conflicts--
		// Someone else approved it meanwhile.
		f.csrs[name] = withStatus(f.csrs[name], "Approved")
		return &kube.StatusError{Code: 409, Message: "the object has been modified"}
	}
	conditions := kube.Field(csr, "status", "conditions").([]any)
	kind := conditions[len(conditions)-1].(map[string]any)["type"].(string)
	f.decisions[name] = kind
	f.csrs[name] = csr
	return nil
}

func (f *fakeAPI) Watch(ctx context.Context, _ string, _ time.Duration, onEvent func(kube.Event)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case event := <-f.events:
			if event.Type == "GONE" {
				return &kube.StatusError{Code: 410, Message: "too old resource version"}
			}
			onEvent(event)
		}
	}
}

func (f *fakeAPI) decision(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.decisions[name]
}

func withStatus(csr kube.CSR, condition string) kube.CSR {
	copied := kube.CSR{}
	for k, v := range csr {
		copied[k] = v
	}
	copied["status"] = map[string]any{"conditions": []any{map[string]any{"type": condition, "status": "True"}}}
	return copied
}

// servingCSR is a kubelet's serving CSR as the API returns it: from `user`, naming `node`.
func servingCSR(t *testing.T, name, user, node string, ip string) kube.CSR {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		DNSNames:    []string{node},
		IPAddresses: []net.IP{net.ParseIP(ip)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	request := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	return kube.CSR{
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"signerName": "kubernetes.io/kubelet-serving",
			"username":   user,
			"groups":     []any{"system:nodes", "system:authenticated"},
			"usages":     []any{"digital signature", "server auth"},
			"request":    base64.StdEncoding.EncodeToString(request),
		},
	}
}

func writeInventory(t *testing.T, path, nodes string) {
	t.Helper()
	content := `{"version": 1, "maxExpirationSeconds": 31536000, "nodes": [` + nodes + `]}`
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

const nodeA = `{"name": "node-a", "ips": ["10.0.0.11"], "dnsNames": []}`
const nodeB = `{"name": "node-b", "ips": ["10.0.0.12"], "dnsNames": []}`

// syncBuffer is a log sink the test reads while the approver writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, api *fakeAPI, inventoryPath string) (*Approver, context.CancelFunc) {
	t.Helper()
	return startLogging(t, api, inventoryPath, io.Discard)
}

func startLogging(t *testing.T, api *fakeAPI, inventoryPath string, log io.Writer) (*Approver, context.CancelFunc) {
	t.Helper()
	a := &Approver{
		API: api, InventoryPath: inventoryPath, Log: slog.New(slog.NewJSONHandler(log, nil)),
		Resync: time.Minute, InventoryPoll: 20 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a, cancel
}

func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListedRequestsAreJudged(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA+","+nodeB)
	api := newFakeAPI(
		servingCSR(t, "genuine", "system:node:node-a", "node-a", "10.0.0.11"),
		servingCSR(t, "forged", "system:node:node-b", "node-b", "10.9.9.9"),
		servingCSR(t, "stranger", "system:node:other", "other", "10.0.0.99"),
	)
	var log syncBuffer
	a, _ := startLogging(t, api, inventory, &log)
	eventually(t, "both decisions", func() bool { return api.decision("genuine") != "" && api.decision("forged") != "" })
	if got := api.decision("genuine"); got != "Approved" {
		t.Errorf("genuine: %q, want Approved", got)
	}
	if got := api.decision("forged"); got != "Denied" {
		t.Errorf("forged (an IP the inventory does not give node-b): %q, want Denied", got)
	}
	if got := api.decision("stranger"); got != "" {
		t.Errorf("a node of no inventory: %q, want no decision", got)
	}
	status := a.Snapshot()
	if status.Approved != 1 || status.Denied != 1 || status.Nodes != 2 || status.LastContact.IsZero() {
		t.Errorf("status %+v", status)
	}
	for _, want := range []string{
		`"level":"INFO","msg":"approved","csr":"genuine","node":"node-a","requestor":"system:node:node-a","rule":"genuine"`,
		`"level":"WARN","msg":"denied","csr":"forged","node":"node-b","requestor":"system:node:node-b","rule":"san-ip"`,
		`"msg":"ignored","csr":"stranger","rule":"unmanaged"`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, log.String())
		}
	}
}

func TestAnIdentityWithoutTheGrantIsUnhealthy(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI()
	api.forbidden = map[string]bool{"approve": true}
	a, _ := start(t, api, inventory)
	eventually(t, "the missing grant reported", func() bool {
		return a.Snapshot().Forbidden == "approve for kubernetes.io/kubelet-serving"
	})
}

func TestARefusedDecisionIsReportedUntilOneSucceeds(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI()
	api.refusal = &kube.StatusError{Code: 403, Message: "forbidden"}
	a, _ := start(t, api, inventory)
	api.events <- kube.Event{Type: "ADDED", Object: servingCSR(t, "refused", "system:node:node-a", "node-a", "10.0.0.11")}
	eventually(t, "the refusal reported", func() bool {
		return strings.Contains(a.Snapshot().DecisionError, "approve of refused: HTTP 403: forbidden")
	})
	api.mu.Lock()
	api.refusal = nil
	api.mu.Unlock()
	api.events <- kube.Event{Type: "ADDED", Object: servingCSR(t, "accepted", "system:node:node-a", "node-a", "10.0.0.11")}
	eventually(t, "the error cleared", func() bool { return a.Snapshot().DecisionError == "" })
}

func TestWatchedRequestIsApprovedAsItComes(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI()
	start(t, api, inventory)
	api.events <- kube.Event{Type: "ADDED", Object: servingCSR(t, "renewal", "system:node:node-a", "node-a", "10.0.0.11")}
	eventually(t, "approval", func() bool { return api.decision("renewal") == "Approved" })
}

func TestConflictIsReadAndJudgedAgain(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI(servingCSR(t, "raced", "system:node:node-a", "node-a", "10.0.0.11"))
	api.conflicts = 1
	start(t, api, inventory)
	eventually(t, "the re-read copy, approved by someone else", func() bool {
		api.mu.Lock()
		defer api.mu.Unlock()
		return kube.Field(api.csrs["raced"], "status") != nil
	})
	time.Sleep(50 * time.Millisecond)
	if got := api.decision("raced"); got != "" {
		t.Errorf("decided %q after another approver decided it", got)
	}
}

func TestNewInventoryJudgesWhatTheOldOneIgnored(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI(servingCSR(t, "early", "system:node:node-b", "node-b", "10.0.0.12"))
	a, _ := start(t, api, inventory)
	eventually(t, "first list", func() bool { return !a.Snapshot().LastContact.IsZero() })
	if api.decision("early") != "" {
		t.Fatal("node-b is not in the inventory yet")
	}
	writeInventory(t, inventory, nodeA+","+nodeB)
	eventually(t, "approval after the inventory changed", func() bool { return api.decision("early") == "Approved" })
}

func TestBrokenInventoryKeepsTheLastGoodOne(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI()
	a, _ := start(t, api, inventory)
	eventually(t, "first list", func() bool { return !a.Snapshot().LastContact.IsZero() })
	if err := os.WriteFile(inventory, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the error reported", func() bool { return a.Snapshot().InventoryError != "" })
	api.events <- kube.Event{Type: "ADDED", Object: servingCSR(t, "still", "system:node:node-a", "node-a", "10.0.0.11")}
	eventually(t, "approval by the last good inventory", func() bool { return api.decision("still") == "Approved" })
	writeInventory(t, inventory, nodeA)
	eventually(t, "the error cleared once the same inventory loads again", func() bool { return a.Snapshot().InventoryError == "" })
}

func TestGoneWatchAndFailedListAreRetried(t *testing.T) {
	inventory := filepath.Join(t.TempDir(), "inventory.json")
	writeInventory(t, inventory, nodeA)
	api := newFakeAPI()
	api.listErrs = 1
	a, _ := start(t, api, inventory)
	eventually(t, "a list after the failed one", func() bool { return !a.Snapshot().LastContact.IsZero() })
	api.mu.Lock()
	api.csrs["after-gone"] = servingCSR(t, "after-gone", "system:node:node-a", "node-a", "10.0.0.11")
	api.mu.Unlock()
	api.events <- kube.Event{Type: "GONE"}
	eventually(t, "the relist after 410 judged the new CSR", func() bool { return api.decision("after-gone") == "Approved" })
}

func TestMissingInventoryFailsTheStart(t *testing.T) {
	a := &Approver{API: newFakeAPI(), InventoryPath: filepath.Join(t.TempDir(), "absent.json"),
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Resync: time.Minute, InventoryPoll: time.Second}
	if err := a.Run(context.Background()); err == nil {
		t.Fatal("Run started without an inventory")
	}
}
