# Runs that are steps of a workflow (issue 17). Both columns are nullable/defaulted in the
# database: existing rows are not rewritten.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('runs', '0005_created_at_database_clock'),
        ('workflows', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='atomrun',
            name='step',
            field=models.CharField(blank=True, db_default='', default='', max_length=100),
        ),
        migrations.AddField(
            model_name='atomrun',
            name='workflow',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='runs', to='workflows.workflow'),
        ),
        migrations.AddIndex(
            model_name='atomrun',
            index=models.Index(condition=models.Q(('workflow__isnull', False)), fields=['workflow'], name='run_workflow'),
        ),
    ]
