"""The audit log (append-only: a trigger refuses UPDATE and DELETE) and the role groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

APPEND_ONLY = """
CREATE FUNCTION changetrack_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'changetrack_auditentry is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER changetrack_auditentry_append_only BEFORE UPDATE OR DELETE ON changetrack_auditentry
    FOR EACH ROW EXECUTE FUNCTION changetrack_audit_append_only();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS changetrack_auditentry_append_only ON changetrack_auditentry;
DROP FUNCTION IF EXISTS changetrack_audit_append_only();
"""


def grant_roles(apps, schema_editor):
    """The model permissions exist only after migrate's post_migrate step: create them now so the groups can hold
    them on a fresh database (``ensure_roles`` runs again after every migrate)."""
    from changetrack.roles import ensure_roles

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_roles(apps)


class Migration(migrations.Migration):

    dependencies = [
        ('changetrack', '0008_notify'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('actor', models.CharField(max_length=200)),
                ('source', models.CharField(max_length=20)),
                ('ip', models.GenericIPAddressField(blank=True, null=True)),
                ('request_id', models.CharField(blank=True, default='', max_length=128)),
                ('action', models.CharField(choices=[('create', 'Create'), ('change', 'Change'), ('delete', 'Delete')], max_length=10)),
                ('object_type', models.CharField(max_length=100)),
                ('object_id', models.CharField(max_length=64)),
                ('object_repr', models.CharField(max_length=200)),
                ('changes', models.JSONField(blank=True, default=dict)),
            ],
            options={
                'verbose_name_plural': 'audit entries',
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['object_type', 'object_id'], name='audit_object')],
            },
        ),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
