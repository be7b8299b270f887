-- `updated_at` is kept by one trigger instead of by every statement that updates a row.
create function set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create trigger set_updated_at before update on orgs for each row execute function set_updated_at();
create trigger set_updated_at before update on spaces for each row execute function set_updated_at();
create trigger set_updated_at before update on users for each row execute function set_updated_at();
create trigger set_updated_at before update on apps for each row execute function set_updated_at();
create trigger set_updated_at before update on releases for each row execute function set_updated_at();
create trigger set_updated_at before update on builds for each row execute function set_updated_at();
create trigger set_updated_at before update on repo_attachments for each row execute function set_updated_at();
