package klaviyo

import (
	"net/http"
	"testing"
	"time"
)

// FuzzNewAPIError: any error answer Klaviyo (or a proxy in front of it)
// sends becomes an APIError that keeps its status, a bounded excerpt and a
// non-negative, bounded wait before a retry.
func FuzzNewAPIError(f *testing.F) {
	f.Add(429, []byte(`{"errors":[{"id":"x","code":"throttled","title":"Request was throttled.","detail":"Request was throttled. Expected available in 7 seconds."}]}`), "application/vnd.api+json", "")
	f.Add(403, []byte(`<!DOCTYPE html><title>Attention Required!</title>`), "text/html", "")
	f.Add(400, []byte(`{"errors":[{"code":"invalid","source":{"pointer":"/data/attributes/profile"}}]}`), "application/json", "30")
	f.Add(503, []byte(``), "", "Wed, 21 Oct 2026 07:28:00 GMT")
	f.Add(429, []byte(``), "", "Wed, 21 Oct 2099 07:28:00 GMT") // a date decades away must not stop sending for decades
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, raw []byte, contentType, retry string) {
		if status < 100 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}, "Retry-After": {retry}}}
		e := newAPIError(resp, raw, now)
		if e.Status != status {
			t.Fatalf("status %d became %d", status, e.Status)
		}
		if len(e.Body) > 4096 {
			t.Fatalf("excerpt of %d bytes", len(e.Body))
		}
		if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("retry after %s", e.RetryAfter)
		}
		_ = e.Error()
	})
}
