// Package health serves the approver's health: whether it judges CSRs right now.
package health

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"kubelet-bootstrap/approver/internal/approver"
)

// Report is the body of /healthz: the approver's status and the verdict on it.
type Report struct {
	Healthy bool   `json:"healthy"`
	Problem string `json:"problem,omitempty"`
	approver.Status
}

// Judge says whether status is healthy at now: the API server answered within staleAfter,
// and the inventory file, as it is now, loads.
func Judge(status approver.Status, staleAfter time.Duration, now time.Time) Report {
	report := Report{Healthy: true, Status: status}
	switch {
	case status.LastContact.IsZero():
		report.Problem = "the API server has not answered yet" + cause(status.LastError)
	case now.Sub(status.LastContact) > staleAfter:
		ago := now.Sub(status.LastContact).Round(time.Second)
		report.Problem = fmt.Sprintf("the API server last answered %s ago", ago) + cause(status.LastError)
	case status.Forbidden != "":
		report.Problem = "its identity may not " + status.Forbidden
	case status.InventoryError != "":
		report.Problem = "the inventory does not load: " + status.InventoryError
	case status.DecisionError != "":
		report.Problem = "the last decision could not be written: " + status.DecisionError
	}
	report.Healthy = report.Problem == ""
	return report
}

// Handler serves GET /healthz: 200 when healthy, 503 otherwise, the report as JSON either way.
func Handler(snapshot func() approver.Status, staleAfter time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		report := Judge(snapshot(), staleAfter, time.Now())
		w.Header().Set("Content-Type", "application/json")
		if !report.Healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(report)
	})
	return mux
}

func cause(lastError string) string {
	if lastError == "" {
		return ""
	}
	return ": " + lastError
}
