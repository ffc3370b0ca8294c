package fetch

import (
	"context"
	"net/http"
	"sync"
	"time"
)

type Result struct {
	URL    string
	Status int
	Err    error
	Took   time.Duration
}

// CheckAll requests every URL with at most `parallel` requests in flight and returns the results in the
// order of the input. The first cancellation of ctx stops the workers from starting new requests.
func CheckAll(ctx context.Context, client *http.Client, urls []string, parallel int) []Result {
	results := make([]Result, len(urls))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = check(ctx, client, urls[i])
			}
		}()
	}
	for i := range urls {
		select {
		case jobs <- i:
		case <-ctx.Done():
			for j := i; j < len(urls); j++ {
				results[j] = Result{URL: urls[j], Err: ctx.Err()}
			}
			close(jobs)
			wg.Wait()
			return results
		}
	}
	close(jobs)
	wg.Wait()
	return results
}

func check(ctx context.Context, client *http.Client, url string) Result {
	begin := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return Result{URL: url, Err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{URL: url, Err: err, Took: time.Since(begin)}
	}
	resp.Body.Close()
	return Result{URL: url, Status: resp.StatusCode, Took: time.Since(begin)}
}
