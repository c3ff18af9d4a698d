#ifndef GPTAUTH_CFASTCGI_SHIM_H
#define GPTAUTH_CFASTCGI_SHIM_H
#include <fcgiapp.h>
#endif
