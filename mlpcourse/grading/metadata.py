"""nbgrader's check of the cells' nbgrader metadata, with its JSON schema checked once.

``nbgrader autograde`` runs ``CheckCellMetadata`` twice on every notebook, and nbgrader's
validator checks each cell with ``jsonschema.validate``, which first checks the schema
itself against the JSON Schema meta-schema: for asg01's 61 cells that is about 0.12 s of a
grading worker's time per student, spent checking one constant schema again and again.
:class:`CheckCellMetadata` (``nbgrader_config.py`` puts it where nbgrader's stood) runs
nbgrader's own validator, ``MetadataValidatorV3`` of nbgrader 0.9.6 (pinned in
``requirements.txt``), with only that step changed: the schema is checked once per
process, and each cell is validated by the same jsonschema validator, reporting the same
error (jsonschema's ``best_match``).
"""

import traceback

import jsonschema
from nbgrader.nbgraderformat import ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator, SchemaTooNewError, SchemaTooOldError
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata

_validators = {}  # {schema version: jsonschema validator of nbgrader's schema, checked}


class _SchemaCheckedOnce(BaseMetadataValidator):
    """``BaseMetadataValidator.validate_cell`` (nbgrader 0.9.6), with the schema's own check done once."""

    def validate_cell(self, cell):
        if "nbgrader" not in cell.metadata:
            return
        schema = cell.metadata["nbgrader"].get("schema_version", 0)
        if schema < self.schema_version:
            raise SchemaTooOldError(f"Outdated schema version: {schema} (expected {self.schema_version})",
                                    schema, self.schema_version)
        if schema > self.schema_version:
            raise SchemaTooNewError(f"Schema version is too new: {schema} (expected {self.schema_version})",
                                    schema, self.schema_version)
        if self.schema_version not in _validators:
            kind = jsonschema.validators.validator_for(self.schema)
            kind.check_schema(self.schema)
            _validators[self.schema_version] = kind(self.schema)
        errors = _validators[self.schema_version].iter_errors(cell.metadata["nbgrader"])
        error = jsonschema.exceptions.best_match(errors)
        if error is not None:
            raise error


class MetadataValidator(MetadataValidatorV3, _SchemaCheckedOnce):
    """nbgrader's ``MetadataValidatorV3``: its checks, on top of the per-cell schema check
    above (which its ``super().validate_cell`` reaches first in this class's method order)."""


class CheckCellMetadata(NbgraderCheckCellMetadata):
    """nbgrader's ``CheckCellMetadata.preprocess`` (0.9.6) with :class:`MetadataValidator`."""

    def preprocess(self, nb, resources):
        try:
            MetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            message = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(message)
            raise ValidationError(message) from None
        return nb, resources
