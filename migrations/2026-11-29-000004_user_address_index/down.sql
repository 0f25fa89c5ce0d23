DROP INDEX CONCURRENTLY IF EXISTS public.scim_user_email_identity_idx;
