package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type healthReport struct {
	Status  string `json:"status"`
	Uptime  string `json:"uptime"`
	Version string `json:"version"`
}

var started = time.Now()

func healthHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(healthReport{
		Status:  "ok",
		Uptime:  time.Since(started).Round(time.Second).String(),
		Version: version,
	})
}

// withRequestLog logs method, path, status and duration of every request.
func withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		begin := time.Now()
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %d %s", r.Method, r.URL.Path, rec.status, time.Since(begin).Round(time.Millisecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// serveUntilSignal runs the server until SIGINT or SIGTERM, then stops accepting connections and gives the
// requests in flight up to 20 seconds to finish before returning.
func serveUntilSignal(srv *http.Server) error {
	errs := make(chan error, 1)
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
		close(errs)
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errs:
		return err
	case sig := <-stop:
		log.Printf("received %s, draining connections", sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

const version = "1.4.0"

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthHandler)
	srv := &http.Server{Addr: ":8080", Handler: withRequestLog(mux), ReadHeaderTimeout: 5 * time.Second}
	if err := serveUntilSignal(srv); err != nil {
		log.Fatal(err)
	}
}
