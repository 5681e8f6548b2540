package wallet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sovos/sov/internal/boltfile"
	bolt "go.etcd.io/bbolt"
)

const dbFile = "wallet.db"

// Buckets in wallet.db.
var (
	bucketPolicy = []byte("policy")
	bucketSpend  = []byte("spend")  // day|asset|id -> reservation
	bucketLedger = []byte("ledger") // chain|txhash -> LedgerEntry
	bucketNonce  = []byte("nonce")  // chainID|address -> next local nonce
	keyPolicy    = []byte("current")
)

// dbLock serialises this process's openers of one wallet.db; across
// processes bbolt's exclusive flock does the same job.
var dbLocks sync.Map // path -> *sync.Mutex

// withDB opens wallet.db, runs fn in one read-write transaction and closes
// it again, so a long-lived TUI never starves a CLI call of the file lock.
func withDB(dir string, fn func(tx *bolt.Tx) error) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, dbFile)
	mu, _ := dbLocks.LoadOrStore(path, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if err := boltfile.Check(path); err != nil {
		return err // a truncated file would fault inside bbolt's mmap
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 60 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("wallet database %s is busy (another process is using it): try again", path)
	}
	if err != nil {
		return fmt.Errorf("open wallet database: %w", err)
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPolicy, bucketSpend, bucketLedger, bucketNonce, bucketGrants} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}
