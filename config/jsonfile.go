package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// ReadJSONFile reads the JSON file at path into v, for the files kept beside the configuration (call
// history, contacts; written with WriteFileAtomic). A missing file leaves v as it is and is no error. A
// damaged one is never overwritten: it is renamed to path.damaged-TIME, v is left as it is, and the
// error says so, naming what (e.g. "call history").
func ReadJSONFile(path, what string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		keep := path + ".damaged-" + time.Now().UTC().Format("20060102T150405")
		if rerr := os.Rename(path, keep); rerr != nil {
			return fmt.Errorf("%s %s is damaged (%v) and could not be set aside: %w", what, path, err, rerr)
		}
		return fmt.Errorf("%s %s was damaged (%v); kept as %s, starting afresh", what, path, err, keep)
	}
	return nil
}
