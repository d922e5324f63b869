/* SPDX-License-Identifier: GPL-3.0-or-later */
/* HRESULT-valued statuses: names and texts. */
#include <config.h>

#include <errno.h>
#include <stddef.h>

#include <offserv/status.h>

struct status_entry {
	offserv_status code;
	const char *name;
	const char *text;
};

/* Texts follow Windows' own wording where scripts and people search for it. */
static const struct status_entry status_table[] = {
	{OFFSERV_OK, "S_OK", "The operation completed successfully."},
	{OFFSERV_S_REBOOT_REQUIRED, "ERROR_SUCCESS_REBOOT_REQUIRED",
	 "The requested operation is successful. Changes will not be effective until the system is rebooted."},
	{OFFSERV_E_FAIL, "E_FAIL", "Unspecified error."},
	{OFFSERV_E_NOTIMPL, "E_NOTIMPL", "Not implemented."},
	{OFFSERV_E_ABORT, "E_ABORT", "Operation aborted."},
	{OFFSERV_E_UNEXPECTED, "E_UNEXPECTED", "Catastrophic failure."},
	{OFFSERV_E_FILE_NOT_FOUND, "ERROR_FILE_NOT_FOUND", "The system cannot find the file specified."},
	{OFFSERV_E_PATH_NOT_FOUND, "ERROR_PATH_NOT_FOUND", "The system cannot find the path specified."},
	{OFFSERV_E_ACCESS_DENIED, "ERROR_ACCESS_DENIED", "Access is denied."},
	{OFFSERV_E_OUTOFMEMORY, "E_OUTOFMEMORY", "Not enough memory resources are available to complete this operation."},
	{OFFSERV_E_INVALID_DATA, "ERROR_INVALID_DATA", "The data is invalid."},
	{OFFSERV_E_WRITE_FAULT, "ERROR_WRITE_FAULT", "The system cannot write to the specified device."},
	{OFFSERV_E_READ_FAULT, "ERROR_READ_FAULT", "The system cannot read from the specified device."},
	{OFFSERV_E_SHARING_VIOLATION, "ERROR_SHARING_VIOLATION",
	 "The process cannot access the file because it is being used by another process."},
	{OFFSERV_E_HANDLE_EOF, "ERROR_HANDLE_EOF", "Reached the end of the file."},
	{OFFSERV_E_NOT_SUPPORTED, "ERROR_NOT_SUPPORTED", "The request is not supported."},
	{OFFSERV_E_FILE_EXISTS, "ERROR_FILE_EXISTS", "The file exists."},
	{OFFSERV_E_INVALIDARG, "ERROR_INVALID_PARAMETER", "The parameter is incorrect."},
	{OFFSERV_E_DISK_FULL, "ERROR_DISK_FULL", "There is not enough space on the disk."},
	{OFFSERV_E_INVALID_NAME, "ERROR_INVALID_NAME", "The filename, directory name, or volume label syntax is incorrect."},
	{OFFSERV_E_BAD_PATHNAME, "ERROR_BAD_PATHNAME", "The specified path is invalid."},
	{OFFSERV_E_ALREADY_EXISTS, "ERROR_ALREADY_EXISTS", "Cannot create a file when that file already exists."},
	{OFFSERV_E_BUSY, "ERROR_BUSY", "The requested resource is in use."},
	{OFFSERV_E_BAD_FORMAT, "ERROR_BAD_FORMAT", "An attempt was made to load a program with an incorrect format."},
	{OFFSERV_E_CRC, "ERROR_CRC", "Data error (cyclic redundancy check)."},
	{OFFSERV_E_BAD_CONFIG, "ERROR_BAD_CONFIGURATION", "The configuration data for this product is corrupt."},
	{OFFSERV_E_MOD_NOT_FOUND, "ERROR_MOD_NOT_FOUND", "The specified module could not be found."},
	{OFFSERV_E_PROC_NOT_FOUND, "ERROR_PROC_NOT_FOUND", "The specified procedure could not be found."},
	{OFFSERV_E_OLD_WIN_VERSION, "ERROR_OLD_WIN_VERSION",
	 "The specified program requires a newer version of Windows."},
	{OFFSERV_E_CANCELLED, "ERROR_CANCELLED", "The operation was canceled by the user."},
	{OFFSERV_E_FILE_CORRUPT, "ERROR_FILE_CORRUPT", "The file or directory is corrupted and unreadable."},
	{OFFSERV_E_NOT_FOUND, "ERROR_NOT_FOUND", "Element not found."},
	{OFFSERV_CBS_E_INVALID_PACKAGE, "CBS_E_INVALID_PACKAGE",
	 "An error occurred trying to open - <package> Error: 0x800f0805. The specified package is not a valid Windows package."},
	{OFFSERV_CBS_E_PENDING, "CBS_E_PENDING",
	 "The operation could not be completed because pending operations must be completed first."},
	{OFFSERV_CBS_E_UNKNOWN_UPDATE, "CBS_E_UNKNOWN_UPDATE", "The specified package is not known to this image."},
	{OFFSERV_CBS_E_NOT_APPLICABLE, "CBS_E_NOT_APPLICABLE", "The specified package is not applicable to this image."},
	{OFFSERV_CBS_E_SOURCE_MISSING, "CBS_E_SOURCE_MISSING", "The source files could not be found."},
	{OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED, "CBS_E_NEW_SERVICING_STACK_REQUIRED",
	 "Package needs a newer version of the servicing stack."},
	{OFFSERV_CBS_E_CANNOT_UNINSTALL, "CBS_E_CANNOT_UNINSTALL", "The package cannot be uninstalled."},
	{OFFSERV_CBS_E_IMAGE_UNSERVICEABLE, "CBS_E_IMAGE_UNSERVICEABLE",
	 "The image is corrupt and cannot be serviced; discard it."},
	{OFFSERV_CBS_E_STORE_CORRUPTION, "CBS_E_STORE_CORRUPTION", "The component store has been corrupted."},
	{OFFSERV_CBS_E_XML_PARSER_FAILURE, "CBS_E_XML_PARSER_FAILURE", "A manifest could not be parsed as XML."},
	{OFFSERV_CBS_E_INSTALLERS_FAILED, "CBS_E_INSTALLERS_FAILED", "One or more installers failed."},
	{OFFSERV_SXS_E_FILE_HASH_MISMATCH, "ERROR_SXS_FILE_HASH_MISMATCH",
	 "A component's file does not match the verification information present in the component manifest."},
	{OFFSERV_SXS_E_COMPONENT_STORE_CORRUPT, "ERROR_SXS_COMPONENT_STORE_CORRUPT",
	 "The component store has been corrupted."},
	{OFFSERV_SXS_E_MANIFEST_PARSE_ERROR, "ERROR_SXS_MANIFEST_PARSE_ERROR", "The manifest file contains one or more syntax errors."},
	{OFFSERV_DISMAPI_E_UNMOUNT_INCOMPLETE, "DISMAPI_E_UNMOUNT_FAILED",
	 "The directory could not be completely unmounted."},
};

static const struct status_entry *status_find(offserv_status status)
{
	for (size_t i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++)
		if (status_table[i].code == status)
			return &status_table[i];
	return NULL;
}

const char *offserv_strerror(offserv_status status)
{
	const struct status_entry *e = status_find(status);

	if (e)
		return e->text;
	return OFFSERV_FAILED(status) ? "Unknown error." : "Unknown success code.";
}

const char *offserv_status_name(offserv_status status)
{
	const struct status_entry *e = status_find(status);

	return e ? e->name : "UNKNOWN";
}

offserv_status offserv_status_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return OFFSERV_OK;
	case ENOENT:
		return OFFSERV_E_FILE_NOT_FOUND;
	case ENOTDIR:
		return OFFSERV_E_PATH_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return OFFSERV_E_ACCESS_DENIED;
	case ENOMEM:
		return OFFSERV_E_OUTOFMEMORY;
	case ENOSPC:
	case EDQUOT:
		return OFFSERV_E_DISK_FULL;
	case EEXIST:
		return OFFSERV_E_ALREADY_EXISTS;
	case EINVAL:
		return OFFSERV_E_INVALIDARG;
	case ENAMETOOLONG:
		return OFFSERV_E_INVALID_NAME;
	case EBUSY:
	case EWOULDBLOCK:
		return OFFSERV_E_BUSY;
	case EIO:
		return OFFSERV_E_READ_FAULT;
	case ECANCELED:
		return OFFSERV_E_CANCELLED;
	case ENOTSUP:
		return OFFSERV_E_NOT_SUPPORTED;
	default:
		return OFFSERV_E_FAIL;
	}
}

int offserv_status_win32_code(offserv_status status)
{
	if ((status & 0xffff0000u) == 0x80070000u)
		return (int)(status & 0xffffu);
	return -1;
}
