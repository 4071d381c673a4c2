-- Schema of the school and preschool database (skol- och förskoledatabas),
-- SS 12000-inspired. One file for both drivers: every type name below means the
-- same thing to PostgreSQL and SQLite.
--
-- Dates are DATE. PostgreSQL stores a real date; SQLite gives DATE numeric
-- affinity, under which a 'YYYY-MM-DD' value stays TEXT, so the SQLite file
-- holds ISO dates that sort and compare as text. The store reads both forms
-- into time.Time (see dates.go); the seeder writes strings to SQLite because
-- the driver would otherwise write a full timestamp.
--
-- Migrate drops the lines that start with "--" and splits the rest at
-- semicolons: write no semicolon, and no trailing comment, inside a statement.

CREATE TABLE IF NOT EXISTS skolenhet (
    skolenhetskod             TEXT NOT NULL PRIMARY KEY CHECK (length(skolenhetskod) = 8),
    namn                      TEXT NOT NULL,
    skolform                  TEXT NOT NULL CHECK (skolform IN ('FORSKOLA', 'GRUNDSKOLA', 'GYMNASIESKOLA')),
    fastighet_objektidentitet TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS placering (
    id               BIGINT NOT NULL PRIMARY KEY,
    personnummer     TEXT NOT NULL CHECK (length(personnummer) = 12),
    skolenhetskod    TEXT NOT NULL REFERENCES skolenhet (skolenhetskod),
    grupp            TEXT NOT NULL,
    startdatum       DATE NOT NULL,
    slutdatum        DATE,
    -- Set for preschool placements only.
    timmar_per_vecka DOUBLE PRECISION CHECK (timmar_per_vecka > 0 AND timmar_per_vecka <= 168),
    CHECK (slutdatum IS NULL OR slutdatum >= startdatum)
);

-- Special diets and allergies: health data (GDPR art. 9, classification 3).
-- The primary key's leading column serves lookups by personnummer.
CREATE TABLE IF NOT EXISTS specialkost (
    personnummer TEXT NOT NULL CHECK (length(personnummer) = 12),
    kost         TEXT NOT NULL,
    PRIMARY KEY (personnummer, kost)
);

-- One row per day of absence. A child can have two rows for the same day, so
-- there is no natural key.
CREATE TABLE IF NOT EXISTS franvaro (
    personnummer TEXT NOT NULL CHECK (length(personnummer) = 12),
    datum        DATE NOT NULL,
    timmar       DOUBLE PRECISION NOT NULL CHECK (timmar > 0 AND timmar <= 24),
    anmald       BOOLEAN NOT NULL
);

-- Which synthetic world the tables hold; written by the seeder (sim.SeedSchoolDB).
-- seed is the world's uint64 seed stored bit for bit as a signed BIGINT.
CREATE TABLE IF NOT EXISTS kommungraf_seed (
    seed   BIGINT NOT NULL,
    people INTEGER NOT NULL
);

-- Pages of a unit's placements: PARTITION BY skolenhetskod ORDER BY id reads
-- this index in order. It also covers the foreign key.
CREATE INDEX IF NOT EXISTS placering_skolenhetskod_id_idx ON placering (skolenhetskod, id);

CREATE INDEX IF NOT EXISTS placering_personnummer_idx ON placering (personnummer);

-- Absences by person, already in date order.
CREATE INDEX IF NOT EXISTS franvaro_personnummer_datum_idx ON franvaro (personnummer, datum);
