package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// instanceFile holds this installation's instance id, beside the configuration file.
const instanceFile = "instance-id"

// InstanceID is this installation's RFC 5626 instance id ("urn:uuid:..."), kept in the directory of the
// configuration file at configPath and made on first use. The phone puts it on every Contact it
// registers, so a registrar (and the phone itself) can tell a binding left by a killed run from another
// device of the same user.
func InstanceID(configPath string) (string, error) {
	path := filepath.Join(filepath.Dir(configPath), instanceFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if u, perr := uuid.Parse(strings.TrimPrefix(id, "urn:uuid:")); perr == nil && strings.HasPrefix(id, "urn:uuid:") {
			return "urn:uuid:" + u.String(), nil
		}
		// A damaged file is replaced: a new id only costs one stale binding, which expires.
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the instance id: %w", err)
	}
	id := "urn:uuid:" + uuid.NewString()
	if err := WriteFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write the instance id: %w", err)
	}
	return id, nil
}
