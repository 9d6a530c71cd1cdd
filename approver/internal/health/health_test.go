package health

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kubelet-bootstrap/approver/internal/approver"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		status  approver.Status
		problem string
	}{
		{"fresh contact", approver.Status{LastContact: now.Add(-10 * time.Second)}, ""},
		{"never answered", approver.Status{}, "has not answered yet"},
		{"stale", approver.Status{LastContact: now.Add(-3 * time.Minute)}, "last answered 3m0s ago"},
		{"bad inventory", approver.Status{LastContact: now, InventoryError: "nodes[0] has no name"}, "inventory does not load: nodes[0] has no name"},
		{"refused token", approver.Status{LastError: "HTTP 401: Unauthorized"}, "has not answered yet: HTTP 401: Unauthorized"},
		{"missing grant", approver.Status{LastContact: now, Forbidden: "approve for kubernetes.io/kubelet-serving"}, "identity may not approve for"},
		{"refused decision", approver.Status{LastContact: now, DecisionError: "approve of x: HTTP 403"}, "last decision could not be written: approve of x"},
	}
	for _, c := range cases {
		report := Judge(c.status, 2*time.Minute, now)
		if report.Healthy != (c.problem == "") || !strings.Contains(report.Problem, c.problem) {
			t.Errorf("%s: %+v, want problem %q", c.name, report, c.problem)
		}
	}
}

func TestHandlerAnswers503WhenUnhealthy(t *testing.T) {
	status := approver.Status{Nodes: 3}
	server := httptest.NewServer(Handler(func() approver.Status { return status }, time.Minute))
	defer server.Close()
	for _, want := range []int{http.StatusServiceUnavailable, http.StatusOK} {
		response, err := http.Get(server.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var report Report
		if err := json.NewDecoder(response.Body).Decode(&report); err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		if response.StatusCode != want || report.Nodes != 3 {
			t.Errorf("HTTP %d %+v, want %d", response.StatusCode, report, want)
		}
		status.LastContact = time.Now()
	}
}
