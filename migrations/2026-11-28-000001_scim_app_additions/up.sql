-- The objects the app's own SCIM release adds to its schema. The app may have created them
-- first, so every statement is a no-op when its object already exists: this migration must
-- succeed both on an app database that predates SCIM and on one that already has it.
-- Objects are schema-qualified because this connection's search_path starts with the
-- service's own schema (where diesel keeps its migration history).

ALTER TABLE public."UserToOrg" ADD COLUMN IF NOT EXISTS "isActive" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE public."UserToOrg" ADD COLUMN IF NOT EXISTS "scimExternalId" TEXT;
CREATE INDEX IF NOT EXISTS "UserToOrg_orgId_scimExternalId_idx"
    ON public."UserToOrg" ("orgId", "scimExternalId");

CREATE TABLE IF NOT EXISTS public."ScimToken" (
    "name" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "orgId" INTEGER NOT NULL,
    CONSTRAINT "ScimToken_pkey" PRIMARY KEY ("hash"),
    CONSTRAINT "ScimToken_orgId_fkey" FOREIGN KEY ("orgId")
        REFERENCES public."Org"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS "ScimToken_orgId_idx" ON public."ScimToken" ("orgId");
