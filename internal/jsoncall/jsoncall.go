// Package jsoncall sends a JSON request to a running server and decodes its
// answer: the one client of the programs that drive a real server (the
// bench command and the crash test).
package jsoncall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Do sends method url with in as its JSON body (none when nil) and token as
// its Authorization (none when empty), and decodes a 2xx answer into out
// (when not nil). Any other status is an error carrying the answer's body.
func Do(c *http.Client, method, url, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, raw)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode %s: %w", method, url, raw, err)
	}
	return nil
}
