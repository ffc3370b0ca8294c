package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// ErrBadCursor is returned for a cursor that was tampered with or comes from another listing.
var ErrBadCursor = errors.New("invalid pagination cursor")

// pageCursor is the position after the last item of a page. Keyset pagination: the next page is the items
// strictly after (CreatedAt, ID) in the listing's order, which stays correct when rows are inserted while a
// client pages, unlike an OFFSET.
type pageCursor struct {
	CreatedAt time.Time `json:"t"`
	ID        int64     `json:"i"`
	Listing   string    `json:"l"`
}

func encodeCursor(c pageCursor) string {
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s, listing string) (pageCursor, error) {
	var c pageCursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, ErrBadCursor
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Listing != listing {
		return c, ErrBadCursor
	}
	return c, nil
}

// pageQuery builds the SQL for one page of an album's photos, newest first.
func pageQuery(albumID int64, after *pageCursor, limit int) (string, []any) {
	if after == nil {
		return `SELECT id, created_at, path FROM photos WHERE album_id = $1
		        ORDER BY created_at DESC, id DESC LIMIT $2`, []any{albumID, limit}
	}
	return `SELECT id, created_at, path FROM photos WHERE album_id = $1
	        AND (created_at, id) < ($2, $3)
	        ORDER BY created_at DESC, id DESC LIMIT $4`, []any{albumID, after.CreatedAt, after.ID, limit}
}
