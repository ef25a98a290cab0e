-- 001: the core schema of the credit bank: institutions, learners, cards,
-- units, catalogue, accounts, the append-only ledger and idempotency keys.
-- Amounts are integers in a unit's smallest step; no floating point anywhere.

CREATE TABLE institutions (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('district_centre', 'branch_centre', 'learning_point',
                                              'vocational_school', 'training_provider',
                                              'online_platform')),
    parent_id   bigint REFERENCES institutions (id),
    region_code text CHECK (region_code ~ '^[1-8][0-9]{5}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'district_centre') = (parent_id IS NULL))
);

CREATE TABLE units (
    code  text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,15}$'),
    name  text NOT NULL,
    -- amounts are stored in 1/scale of the displayed unit (hundredths of a credit)
    scale integer NOT NULL CHECK (scale IN (1, 10, 100, 1000))
);

INSERT INTO units (code, name, scale) VALUES
    ('minutes', 'learning minutes', 1),
    ('community', 'community education credits', 100),
    ('vocational', 'vocational credits', 100),
    ('academic', 'academic credits', 100);

CREATE TABLE learners (
    id               bigserial PRIMARY KEY,
    -- HMAC-SHA-256 of the identity document number under the bank secret;
    -- the number itself is never stored
    id_hash          bytea NOT NULL UNIQUE CHECK (octet_length(id_hash) = 32),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    institution_id   bigint NOT NULL REFERENCES institutions (id),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Luhn over all 19 digits, as a second line of defence behind lib/card.c
CREATE FUNCTION lcb_luhn_ok(number text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    total int := 0;
    digit int;
    i int;
BEGIN
    IF number !~ '^[0-9]+$' THEN
        RETURN false;
    END IF;
    FOR i IN 1 .. length(number) LOOP
        digit := substr(number, length(number) - i + 1, 1)::int;
        IF i % 2 = 0 THEN
            digit := digit * 2;
            IF digit > 9 THEN
                digit := digit - 9;
            END IF;
        END IF;
        total := total + digit;
    END LOOP;
    RETURN total % 10 = 0;
END $$;

CREATE SEQUENCE card_serial START 1 MAXVALUE 999999999999;

CREATE TABLE cards (
    number      text PRIMARY KEY CHECK (number ~ '^[1-8][0-9]{18}$' AND lcb_luhn_ok(number)),
    learner_id  bigint NOT NULL REFERENCES learners (id),
    status      text NOT NULL CHECK (status IN ('active', 'lost', 'replaced', 'cancelled')),
    replaced_by text REFERENCES cards (number),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_learner ON cards (learner_id);

CREATE TABLE catalogue (
    id               bigserial PRIMARY KEY,
    code             text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    kind             text NOT NULL CHECK (kind IN ('course', 'certificate')),
    institution_id   bigint NOT NULL REFERENCES institutions (id),
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    unit             text NOT NULL REFERENCES units (code),
    credit_value     bigint NOT NULL CHECK (credit_value BETWEEN 1 AND 100000),
    required_minutes integer NOT NULL CHECK (required_minutes BETWEEN 0 AND 600000),
    level            smallint NOT NULL CHECK (level BETWEEN 1 AND 10),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- One account per learner and per institution. head_* is the learner chain's
-- last link, moved only by lcb_append() under a row lock.
CREATE TABLE accounts (
    id             bigserial PRIMARY KEY,
    learner_id     bigint UNIQUE REFERENCES learners (id),
    institution_id bigint UNIQUE REFERENCES institutions (id),
    head_seq       bigint NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    head_hash      bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
                   CHECK (octet_length(head_hash) = 32),
    CHECK ((learner_id IS NULL) <> (institution_id IS NULL))
);

CREATE TABLE balances (
    account_id bigint NOT NULL REFERENCES accounts (id),
    unit       text NOT NULL REFERENCES units (code),
    amount     bigint NOT NULL,
    PRIMARY KEY (account_id, unit)
);

CREATE TABLE signing_keys (
    key_id         text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    public_key_pem text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Client certificates lcbctl issued, by SHA-256 of their DER encoding.
CREATE TABLE credentials (
    fingerprint    bytea PRIMARY KEY CHECK (octet_length(fingerprint) = 32),
    subject        text NOT NULL,
    role           text NOT NULL CHECK (role IN ('administrator', 'institution', 'terminal', 'auditor')),
    institution_id bigint NOT NULL REFERENCES institutions (id),
    not_after      timestamptz NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE TABLE transactions (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('deposit', 'reversal', 'conversion')),
    chain_account_id bigint NOT NULL REFERENCES accounts (id),
    chain_seq        bigint NOT NULL CHECK (chain_seq > 0),
    prev_hash        bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    created_at       timestamptz NOT NULL,
    institution_id   bigint NOT NULL REFERENCES institutions (id),
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    -- SHA-256 of the request content: the same key with other content is refused
    request_digest   bytea NOT NULL CHECK (octet_length(request_digest) = 32),
    item_code        text NOT NULL DEFAULT '',
    result           text NOT NULL DEFAULT '',
    completed_on     date,
    evidence_sha256  bytea CHECK (octet_length(evidence_sha256) = 32),
    reverses         uuid REFERENCES transactions (id),
    reason           text NOT NULL DEFAULT '',
    hash             bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    key_id           text NOT NULL REFERENCES signing_keys (key_id),
    signature        bytea NOT NULL CHECK (octet_length(signature) = 64),
    UNIQUE (chain_account_id, chain_seq),
    UNIQUE (institution_id, idempotency_key)
);

CREATE TABLE entries (
    transaction_id uuid NOT NULL REFERENCES transactions (id),
    position       smallint NOT NULL CHECK (position BETWEEN 0 AND 15),
    account_id     bigint NOT NULL REFERENCES accounts (id),
    unit           text NOT NULL REFERENCES units (code),
    amount         bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (transaction_id, position)
);
CREATE INDEX entries_account ON entries (account_id, unit);

-- Append-only: no role, not even the owner, updates or deletes the ledger
-- without first disabling these triggers (which verify then catches).
CREATE FUNCTION lcb_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LCB00',
        MESSAGE = 'append_only: ' || TG_TABLE_NAME || ' rows are never updated or deleted';
END $$;

CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_refuse_change();

-- Double entry, checked at commit: per transaction and unit, entries sum to 0.
CREATE FUNCTION lcb_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM entries WHERE transaction_id = NEW.transaction_id
               GROUP BY unit HAVING sum(amount) <> 0) THEN
        RAISE EXCEPTION USING ERRCODE = 'LCB00',
            MESSAGE = 'unbalanced: transaction ' || NEW.transaction_id || ' does not sum to zero';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lcb_check_balanced();
